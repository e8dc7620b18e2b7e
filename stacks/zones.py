"""Which zones offer which GPU, and where Cloud Build may run: committed tables, checked at synth.

Accelerators per zone, for the regions this stack is meant for. Source: Google Cloud, "GPU
regions and zones availability" (cloud.google.com/compute/docs/gpus/gpu-regions-zones), read
2026-12-02, with `gcloud compute accelerator-types list --filter="zone:asia-northeast3"` as the
live check (`nox -s preflight` runs it). Seoul has no T4 in asia-northeast3-a: the runbook's zone
would fail at the VM's creation, after everything else was built. A zone or accelerator missing
here is refused at synth; add it with its source when Google's table says it exists.
"""

from __future__ import annotations

ACCELERATOR_ZONES: dict[str, frozenset[str]] = {
    "nvidia-tesla-t4": frozenset({"asia-northeast3-b", "asia-northeast3-c"}),
}
TABLE_SOURCE = "cloud.google.com/compute/docs/gpus/gpu-regions-zones (read 2026-12-02)"

# Regions every project may run Cloud Build's default pool in. Source: Google Cloud, "Cloud Build
# locations", section "Restricted regions for some projects" (cloud.google.com/build/docs/
# locations, read 2026-12-02): depending on usage, a new project may only build in these, and a
# build elsewhere fails with "cannot run builds in this region". Seoul is not among them, so the
# image is built in Taiwan (the nearest) and pushed to the registry in Seoul.
UNRESTRICTED_BUILD_REGIONS = frozenset(
    {
        "us-central1",
        "us-west2",
        "europe-west1",
        "asia-east1",
        "australia-southeast1",
        "southamerica-east1",
    }
)
DEFAULT_BUILD_REGION = "asia-east1"


def accelerator_problem(accelerator: str, zone: str) -> str | None:
    """Why `accelerator` cannot run in `zone`, or None when the table says it can."""
    zones = ACCELERATOR_ZONES.get(accelerator)
    if zones is None:
        return (
            f"accelerator {accelerator!r} is not in stacks/zones.py's table "
            f"({', '.join(sorted(ACCELERATOR_ZONES))}); add its zones from {TABLE_SOURCE}"
        )
    if zone not in zones:
        return (
            f"zone {zone!r} offers no {accelerator} GPU; use one of {', '.join(sorted(zones))} "
            f"(source: {TABLE_SOURCE})"
        )
    return None
