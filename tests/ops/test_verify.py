"""`nox -s verify` against real Central and AI processes on loopback, found through a stub gcloud.

The same code path as against Cloud Run: the URL from `gcloud run services describe`, the admin
key from Secret Manager, then each step of the runbook's §11 over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.services import Service, start_ai, start_central
from ops.__main__ import main
from tests.ops.conftest import PROJECT
from tests.ops.fake_gcloud import FakeGcloud

ADMIN_KEY, AI_KEY = "verify-central-key", "verify-ai-key"


@pytest.fixture()
def deployed(tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    ai = start_ai(AI_KEY, tmp_path)
    central = start_central(
        ADMIN_KEY, AI_KEY, ai.url, f"sqlite:///{tmp_path / 'central.db'}", tmp_path
    )
    try:
        ai.wait_ready(AI_KEY)
        central.wait_ready(ADMIN_KEY)
        yield central, ai
    finally:
        central.stop()
        ai.stop()


def point_gcloud_at(fake: FakeGcloud, central: Service) -> None:
    fake.on(
        "run", "services", "describe", "bake-sight-central", out={"status": {"url": central.url}}
    )
    fake.on("secrets", "versions", "access", "latest", out=ADMIN_KEY)


def test_verify_walks_the_runbook_flow_one_line_per_step(
    deployed, gcloud_fake: FakeGcloud, capsys: pytest.CaptureFixture[str]
) -> None:
    central, _ = deployed
    point_gcloud_at(gcloud_fake, central)

    status = main(["verify", "--project", PROJECT])

    out = capsys.readouterr().out.splitlines()
    assert status == 0, "\n".join(out)
    steps = [line.split()[2] for line in out if line.startswith("verify: ok")]
    assert steps == ["health", "ready", "stores", "store", "tray", "infer", "review", "checkout"]
    assert out[-1] == "verify: the deployed demo works end to end"
    assert any("AI answered" in line for line in out)
    assert "--secret=BAKE_SIGHT_ADMIN_KEY" in " ".join(gcloud_fake.positional_calls())


def test_verify_fails_at_infer_when_the_ai_is_down(
    deployed, gcloud_fake: FakeGcloud, capsys: pytest.CaptureFixture[str]
) -> None:
    central, ai = deployed
    point_gcloud_at(gcloud_fake, central)
    ai.stop()

    status = main(["verify", "--project", PROJECT])

    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[-1].startswith("verify: FAIL infer")
    assert "Central could not use the AI" in out[-1] and "journalctl -u ai-inference" in out[-1]


def test_verify_with_a_wrong_key_fails_at_the_first_authenticated_step(
    deployed, gcloud_fake: FakeGcloud, capsys: pytest.CaptureFixture[str]
) -> None:
    central, _ = deployed
    point_gcloud_at(gcloud_fake, central)
    gcloud_fake.on("secrets", "versions", "access", "latest", out="not-the-key")

    status = main(["verify", "--project", PROJECT])

    last = capsys.readouterr().out.splitlines()[-1]
    assert status == 1 and last.startswith("verify: FAIL stores") and "401" in last


def test_verify_without_a_deployment_says_so(
    gcloud_fake: FakeGcloud, capsys: pytest.CaptureFixture[str]
) -> None:
    gcloud_fake.on("run", "services", "describe", exit=1, err="ERROR: Cannot find service\n")

    status = main(["verify", "--project", PROJECT])

    last = capsys.readouterr().out.splitlines()[-1]
    assert status == 1 and "is the stack deployed (`nox -s deploy`)?" in last


def test_an_unsure_ai_sends_the_tray_through_review_and_the_bill_follows_staff(
    tmp_path: Path, gcloud_fake: FakeGcloud, capsys: pytest.CaptureFixture[str]
) -> None:
    from testkit.ai_standin import AiStandIn, answer

    ai = AiStandIn(AI_KEY).start()
    ai.answer = answer("REVIEW", [("VERIFY-BREAD", 1, 0.41)])
    central = start_central(
        ADMIN_KEY, AI_KEY, ai.url, f"sqlite:///{tmp_path / 'central.db'}", tmp_path
    )
    try:
        central.wait_ready(ADMIN_KEY)
        point_gcloud_at(gcloud_fake, central)
        status = main(["verify", "--project", PROJECT])
    finally:
        central.stop()
        ai.stop()

    out = capsys.readouterr().out.splitlines()
    assert status == 0, "\n".join(out)
    [review] = [line for line in out if line.startswith("verify: ok   review")]
    assert "resolved: 7 x VERIFY-BREAD" in review  # the sample tray's true count
    [bill] = [line for line in out if line.startswith("verify: ok   checkout")]
    assert "bill 7000 KRW (REVIEW)" in bill
    assert [r["path"] for r in ai.requests] == ["/v1/infer", "/v1/feedback"]


def test_seed_registers_the_catalog_with_photos_once(
    deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from ops.seed import CATALOG, run_seed
    from ops.verify import Target

    central, _ = deployed
    full = json.loads(CATALOG.read_text())
    small = tmp_path / "catalog.json"  # two products keep the test fast; the code path is the same
    small.write_text(json.dumps({"store": full["store"], "products": full["products"][:2]}))
    target = Target(central.url, ADMIN_KEY)
    said: list[str] = []

    assert run_seed(target, said.append, small) == 0

    assert [line for line in said if "reference photos registered" in line] == [
        f"seed: {p['sku']}: 3 reference photos registered" for p in full["products"][:2]
    ]
    # A second run finds the store and says what to do instead of duplicating it.
    assert run_seed(target, said.append, small) == 1
    assert "exists already" in said[-1]
