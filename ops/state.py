"""Terraform's state bucket: created once, before the first deploy, with versioning on.

The stack's GCS backend (stacks/stack.py) keeps the state in `<project>-<prefix>-tfstate`, so a
destroy from any clone of the repository finds what was deployed. The state holds every
generated secret (keys, the database password): the bucket is private (uniform access, public
access prevented) and only the project's owners can read it. The stack never manages this bucket,
so `destroy` cannot delete the state it is working from; it stays, listed by `nox -s destroy`.
"""

from __future__ import annotations

from collections.abc import Callable

from ops.gcloud import Gcloud, GcloudError
from stacks.config import StackConfig


class StateError(RuntimeError):
    pass


def state_bucket(config: StackConfig) -> str:
    return config.names.bucket_state


def ensure_state_bucket(gcloud: Gcloud, config: StackConfig, say: Callable[[str], None]) -> str:
    """Create the bucket when missing and turn versioning on when off; returns its gs:// URL."""
    url = f"gs://{state_bucket(config)}"
    try:
        described = gcloud.json("storage", "buckets", "describe", url)
    except GcloudError as error:
        if "404" not in error.stderr and "not found" not in error.stderr.lower():
            raise StateError(f"cannot read {url}: {error.stderr}") from error
        described = None
    if described is None:
        say(f"creating the state bucket {url} in {config.region}")
        try:
            gcloud.text(
                "storage",
                "buckets",
                "create",
                url,
                f"--location={config.region}",
                "--uniform-bucket-level-access",
                "--public-access-prevention",
            )
        except GcloudError as error:
            raise StateError(f"cannot create {url}: {error.stderr}") from error
        described = {}
    if not described.get("versioning_enabled"):
        try:
            gcloud.text("storage", "buckets", "update", url, "--versioning")
        except GcloudError as error:
            raise StateError(f"cannot turn versioning on for {url}: {error.stderr}") from error
        say(f"versioning on for {url}: every state write keeps the one before")
    say(f"Terraform state: {url}/bakesight/default.tfstate (holds the generated secrets)")
    return url


def state_exists(gcloud: Gcloud, config: StackConfig) -> bool:
    return gcloud.ok("storage", "buckets", "describe", f"gs://{state_bucket(config)}")
