"""Central and the AI service as real processes on loopback, driven over HTTP as a counter would."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.counter import Counter
from demo.services import ROOT, Service, start_ai, start_central
from demo.trays import load_trays

ADMIN_KEY, AI_KEY = "e2e-central-admin-key", "e2e-ai-admin-key"
CATALOG = ROOT / "fixtures" / "catalog.json"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Service, Service, Counter]]:
    ai = start_ai(AI_KEY, tmp_path)
    central = start_central(
        ADMIN_KEY, AI_KEY, ai.url, f"sqlite:///{tmp_path / 'central.db'}", tmp_path
    )
    try:
        ai.wait_ready(AI_KEY)
        central.wait_ready(ADMIN_KEY)
        counter = Counter(central.url, ADMIN_KEY)
        yield ai, central, counter
        counter.close()
    finally:
        central.stop()
        ai.stop()


def test_a_tray_goes_through_the_whole_runbook_flow(stack) -> None:
    _, _, counter = stack
    store = counter.seed(CATALOG)
    trays = dict(load_trays())
    session = counter.open_session(store["id"])
    result = counter.infer(session, trays["02-bagel-lookalikes"])
    assert result["run"]["decision"] == "REVIEW" and result["review"]["status"] == "OPEN"
    assert counter.checkout(session, "card-1")["error"] == "not_payable"
    counter.resolve(result["review"]["id"], "staff-park", [{"sku": "BAGEL-SESAME", "count": 3}])
    bill = counter.checkout(session, "card-1")["bill"]
    assert bill["total_krw"] == 3 * 3500 and bill["payment_reference"] == "card-1"


def test_killing_the_ai_mid_request_leaves_the_tray_in_review(stack) -> None:
    ai, central, counter = stack
    store = counter.seed(CATALOG)
    trays = dict(load_trays())
    paid = counter.open_session(store["id"])
    counter.infer(paid, trays["01-morning-coffee"])
    paid_bill = counter.checkout(paid, "card-before")["bill"]

    session = counter.open_session(store["id"])
    ai.pause()  # the AI accepts the connection but never answers…
    answer: dict = {}
    call = threading.Thread(
        target=lambda: answer.update(counter.infer(session, trays["04-family-box"]))
    )
    call.start()
    time.sleep(1.0)  # …so the request is in flight when the process dies
    ai.kill()
    call.join(timeout=30)

    assert answer["run"]["ai_status"] in {"UNREACHABLE", "TIMEOUT"}
    assert answer["review"]["reason"] == "AI_UNAVAILABLE" and answer["payable"] is False
    assert counter.checkout(session, "card-during")["error"] == "not_payable"
    # Nothing lost: the earlier tray's bill and this tray's failed run are both on record.
    assert counter.session(paid)["bill"] == paid_bill
    shown = counter.session(session)
    assert shown["status"] == "IN_REVIEW" and len(shown["runs"]) == 1 and shown["bill"] is None
    assert central.process.poll() is None  # Central itself stayed up


def _demo(*args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "demo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_mock_demo_shows_every_decision() -> None:
    out = _demo("--mock")
    assert "→ AUTO" in out and "→ REVIEW" in out and "→ UNKNOWN" in out
    assert "TOTAL" in out and "(PAID, REVIEW)" in out
    assert "AI stopped" in out and "checkout refused: not_payable" in out
    assert "services stopped" in out


def test_the_main_job_runs_the_real_pipeline_end_to_end() -> None:
    out = _demo()
    assert "on cpu" in out and "registered  3 reference photos of each product" in out
    decisions = [line for line in out.splitlines() if line.startswith("tray bakery-")]
    assert len(decisions) == 6
    # Every tray ends billed (AUTO) or waiting for staff — never anything else.
    assert out.count("TOTAL") + out.count("→ staff review") >= 6
    # the tray whose frames disagree goes to staff, whose answer teaches the AI
    moved = next(line for line in decisions if line.startswith("tray bakery-moved"))
    assert "→ AUTO" not in moved
    assert "staff-kim resolved review" in out and "the AI learned from it" in out
    assert "AI stopped" in out and "checkout refused: not_payable" in out
