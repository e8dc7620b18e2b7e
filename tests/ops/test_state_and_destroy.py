"""The state bucket bootstrap and `nox -s destroy`, against a stubbed gcloud and cdktf."""

from __future__ import annotations

from pathlib import Path

from ops.destroy import list_leftovers, run_destroy
from ops.state import ensure_state_bucket
from tests.ops.conftest import PROJECT
from tests.ops.fake_gcloud import FakeGcloud

BUCKET = f"gs://{PROJECT}-bake-sight-tfstate"
SUBNET_HELD = (
    "Error: Error waiting for Deleting Subnetwork: The subnetwork resource 'projects/p/regions/"
    "asia-northeast3/subnetworks/bake-sight-run-subnet' is already being used by 'projects/p/"
    "regions/asia-northeast3/addresses/serverless-ipv4-1234'\n"
)


def test_a_missing_state_bucket_is_created_private_and_versioned(gcloud_fake, gcloud, config):
    gcloud_fake.on("storage", "buckets", "describe", exit=1, err="ERROR: 404 bucket not found\n")
    gcloud_fake.on("storage", "buckets", "create", BUCKET)
    gcloud_fake.on("storage", "buckets", "update", BUCKET)
    said: list[str] = []

    assert ensure_state_bucket(gcloud, config, said.append) == BUCKET

    writes = [c for c in gcloud_fake.positional_calls() if "describe" not in c]
    assert writes == [
        f"storage buckets create {BUCKET} --location=asia-northeast3 "
        f"--uniform-bucket-level-access --public-access-prevention --project={PROJECT}",
        f"storage buckets update {BUCKET} --versioning --project={PROJECT}",
    ]
    assert "holds the generated secrets" in said[-1]


def test_an_existing_versioned_state_bucket_is_left_alone(gcloud_fake, gcloud, config):
    gcloud_fake.on("storage", "buckets", "describe", BUCKET, out={"versioning_enabled": True})

    ensure_state_bucket(gcloud, config, lambda _: None)

    assert [c.split()[2] for c in gcloud_fake.positional_calls()] == ["describe"]


def test_versioning_is_turned_on_when_off(gcloud_fake, gcloud, config):
    gcloud_fake.on("storage", "buckets", "describe", BUCKET, out={"versioning_enabled": False})
    gcloud_fake.on("storage", "buckets", "update", BUCKET)

    ensure_state_bucket(gcloud, config, lambda _: None)

    assert [c.split()[2] for c in gcloud_fake.positional_calls()] == ["describe", "update"]


def nothing_left(fake: FakeGcloud) -> FakeGcloud:
    fake.on("storage", "buckets", "describe", BUCKET, out={"versioning_enabled": True})
    for listing in (
        ("compute", "instances", "list"),
        ("compute", "disks", "list"),
        ("compute", "addresses", "list"),
        ("compute", "routers", "list"),
        ("sql", "instances", "list"),
        ("run", "services", "list"),
        ("artifacts", "repositories", "list"),
        ("compute", "images", "list"),
    ):
        fake.on(*listing, out=[])
    fake.on("storage", "buckets", "list", out=[{"name": f"{PROJECT}-bake-sight-tfstate"}])
    return fake


def cdktf(tmp_path: Path, outputs: list[tuple[int, str]]) -> list[str]:
    """A stand-in cdktf CLI answering each run with the next (exit status, output)."""
    script = tmp_path / "cdktf"
    counter = tmp_path / "cdktf-runs"
    counter.write_text("0")
    cases = "\n".join(
        f"  {i}) printf %s {out!r}; exit {status} ;;" for i, (status, out) in enumerate(outputs)
    )
    script.write_text(
        "#!/bin/bash\n"
        f'n="$(cat {counter})"; echo $((n + 1)) > {counter}\n'
        f'case "$n" in\n{cases}\nesac\nexit 99\n'
    )
    script.chmod(0o755)
    return [str(script)]


def runs(tmp_path: Path) -> int:
    return int((tmp_path / "cdktf-runs").read_text())


def test_destroy_waits_out_the_subnet_hold_and_ends_with_nothing_billing(
    tmp_path, gcloud_fake, gcloud, config
):
    nothing_left(gcloud_fake)
    command = cdktf(tmp_path, [(1, SUBNET_HELD), (1, SUBNET_HELD), (0, "Destroy complete!")])
    slept: list[float] = []
    said: list[str] = []

    status = run_destroy(gcloud, config, command, said.append, slept.append, wait_s=600)

    assert status == 0 and runs(tmp_path) == 3 and slept == [600, 600]
    assert "Google releases it 1-2 h after the service is deleted" in said[0]
    assert "nothing that bills is left" in "\n".join(said)
    assert f"{PROJECT}-bake-sight-tfstate is kept on purpose" in said[-1]


def test_destroy_does_not_retry_other_failures(tmp_path, gcloud_fake, gcloud, config):
    nothing_left(gcloud_fake)
    command = cdktf(tmp_path, [(1, "Error: googleapi: Error 403: permission denied")])
    slept: list[float] = []

    status = run_destroy(gcloud, config, command, lambda _: None, slept.append)

    assert status == 1 and runs(tmp_path) == 1 and slept == []


def test_destroy_gives_up_after_its_attempts(tmp_path, gcloud_fake, gcloud, config):
    nothing_left(gcloud_fake)
    command = cdktf(tmp_path, [(1, SUBNET_HELD)] * 3)
    said: list[str] = []

    status = run_destroy(gcloud, config, command, said.append, lambda _: None, attempts=3)

    assert status == 1 and runs(tmp_path) == 3
    assert any("run `nox -s destroy` again later" in line for line in said)


def test_whatever_still_bills_is_listed(gcloud_fake, gcloud, config):
    nothing_left(gcloud_fake)
    gcloud_fake.on("compute", "instances", "list", out=[{"name": "bake-sight-ai-01"}])
    gcloud_fake.on(
        "storage",
        "buckets",
        "list",
        out=[{"name": f"{PROJECT}-bake-sight-tfstate"}, {"name": f"{PROJECT}-bake-sight-tray"}],
    )
    gcloud_fake.on("sql", "instances", "list", exit=1, err="API [sqladmin] has not been used\n")

    left = list_leftovers(gcloud, config)

    assert [(item.kind, item.name) for item in left] == [
        ("instance", "bake-sight-ai-01"),
        ("bucket", f"{PROJECT}-bake-sight-tray"),
    ]


def test_destroy_without_state_lists_but_runs_nothing(tmp_path, gcloud_fake, gcloud, config):
    nothing_left(gcloud_fake)
    gcloud_fake.on("storage", "buckets", "describe", BUCKET, exit=1, err="404\n")
    command = cdktf(tmp_path, [(0, "")])
    said: list[str] = []

    assert run_destroy(gcloud, config, command, said.append, lambda _: None) == 0

    assert runs(tmp_path) == 0 and "no state bucket" in said[0]


def test_the_destroy_session_runs_no_tests_and_no_policy_gate():
    import ast

    source = (Path(__file__).resolve().parents[2] / "noxfile.py").read_text()
    sessions = {
        node.name: ast.unparse(node)
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef)
    }
    assert "'test'" not in sessions["destroy"] and "synth" not in sessions["destroy"]
    assert "'ops', 'destroy'" in sessions["destroy"]
    # deploy checks the project first, and creates the state bucket before cdktf needs it.
    deploy = sessions["deploy"]
    assert deploy.index("'preflight'") < deploy.index("'state'") < deploy.index("CDKTF_CLI")
