"""`nox -s destroy`: `cdktf destroy`, waiting out Google's hold on the Direct VPC egress subnet,
then a list of whatever still bills (expected: nothing).

It runs no tests and no policy gate: two weeks later a broken test environment must not keep a
GPU VM billing. Cloud Run keeps addresses in its Direct VPC egress subnet for 1-2 hours after the
service is deleted (cloud.google.com/run/docs/configuring/vpc-direct-vpc#delete-subnet), so the
subnet's deletion fails with "already being used by"; the destroy is retried until it goes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ops.gcloud import Gcloud, GcloudError
from ops.state import state_bucket, state_exists
from stacks.config import StackConfig

SUBNET_IN_USE = re.compile(
    r"subnetwork.{0,300}?(already being used by|resourceInUseByAnotherResource)", re.I | re.S
)
WAIT_S = 600
ATTEMPTS = 13  # the first try, then 2 hours of retries


@dataclass(frozen=True)
class Leftover:
    kind: str
    name: str


def run_destroy(
    gcloud: Gcloud,
    config: StackConfig,
    cdktf: Sequence[str],
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    wait_s: float = WAIT_S,
    attempts: int = ATTEMPTS,
) -> int:
    """0 when the destroy went through and nothing that bills is left; 1 otherwise."""
    destroyed = True
    if not state_exists(gcloud, config):
        say(
            f"destroy: no state bucket gs://{state_bucket(config)}: nothing was deployed from "
            "this project's state; listing what bills anyway"
        )
    else:
        destroyed = _destroy_with_retries(cdktf, say, sleep, wait_s, attempts)
    leftovers = list_leftovers(gcloud, config)
    for item in leftovers:
        say(f"destroy: STILL BILLING  {item.kind:<18} {item.name}")
    if not leftovers:
        say("destroy: nothing that bills is left (instances, disks, SQL, buckets, NAT, images)")
    say(
        f"destroy: the state bucket gs://{state_bucket(config)} is kept on purpose (versioned "
        "state, a few KB); delete it with `gcloud storage rm -r "
        f"gs://{state_bucket(config)}` once nothing above is listed"
    )
    return 0 if destroyed and not leftovers else 1


def _destroy_with_retries(
    cdktf: Sequence[str],
    say: Callable[[str], None],
    sleep: Callable[[float], None],
    wait_s: float,
    attempts: int,
) -> bool:
    for attempt in range(1, attempts + 1):
        status, output = _run(cdktf)
        if status == 0:
            say("destroy: cdktf destroy finished")
            return True
        if not SUBNET_IN_USE.search(output):
            say(f"destroy: cdktf destroy failed (exit {status}); see its output above")
            return False
        if attempt == attempts:
            break
        say(
            "destroy: the Direct VPC egress subnet is still held by Cloud Run; Google releases "
            f"it 1-2 h after the service is deleted. Retrying in {wait_s / 60:.0f} min "
            f"(attempt {attempt + 1} of {attempts}); everything else is already gone"
        )
        sleep(wait_s)
    say("destroy: the subnet is still held after the retries; run `nox -s destroy` again later")
    return False


def _run(command: Sequence[str]) -> tuple[int, str]:
    """Run, echoing the output as it comes, and return the status with the output."""
    process = subprocess.Popen(  # noqa: S603 - the cdktf CLI, arguments as a list
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        lines.append(line)
    return process.wait(), "".join(lines)


def list_leftovers(gcloud: Gcloud, config: StackConfig) -> list[Leftover]:
    """Every resource in the project of a kind the stack creates and that bills while it exists."""
    listings: list[tuple[str, tuple[str, ...], str]] = [
        ("instance", ("compute", "instances", "list"), "name"),
        ("disk", ("compute", "disks", "list"), "name"),
        ("static address", ("compute", "addresses", "list"), "name"),
        ("router (NAT)", ("compute", "routers", "list"), "name"),
        ("Cloud SQL", ("sql", "instances", "list"), "name"),
        ("Cloud Run service", ("run", "services", "list", f"--region={config.region}"), "name"),
        (
            "image repository",
            ("artifacts", "repositories", "list", f"--location={config.region}"),
            "name",
        ),
        ("bucket", ("storage", "buckets", "list"), "name"),
        ("disk image", ("compute", "images", "list", "--no-standard-images"), "name"),
    ]
    found: list[Leftover] = []
    for kind, args, key in listings:
        try:
            items = gcloud.json(*args) or []
        except GcloudError as error:
            if "has not been used" in error.stderr or "is disabled" in error.stderr:
                continue  # an API that is off holds nothing
            found.append(Leftover(kind, f"(could not list: {error.stderr})"))
            continue
        for item in items:
            name = str(item.get(key) or item.get("metadata", {}).get("name", "?"))
            if kind == "bucket" and name == state_bucket(config):
                continue
            found.append(Leftover(kind, name.rsplit("/", 1)[-1]))
    return found
