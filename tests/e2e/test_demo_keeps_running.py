"""`python -m demo --keep` leaves both services up with a review open for the staff console."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx

from demo.services import ROOT


def test_the_kept_demo_serves_the_console_with_a_review_open() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo", "--mock", "--keep"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any("Ctrl-C" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "the demo exited:\n" + "".join(lines)
            lines.append(line)
        out = "".join(lines)
        url = re.search(r"staff console\s+(\S+)", out)
        key = re.search(r"staff key\s+(\S+)", out)
        store = re.search(r"store number\s+(\d+)", out)
        assert url and key and store, out
        page = httpx.get(url.group(1), timeout=5)
        assert page.status_code == 200 and "BakeSight" in page.text
        base = url.group(1).removesuffix("/staff/")
        queue = httpx.get(
            f"{base}/api/v1/reviews",
            params={"store_id": store.group(1), "status": "OPEN"},
            headers={"X-STAFF-KEY": key.group(1)},
            timeout=5,
        ).json()["items"]
        assert queue, "no review left open"
        session = httpx.get(
            f"{base}/api/v1/tray-sessions/{queue[-1]['session']}",
            headers={"X-STAFF-KEY": key.group(1)},
            timeout=5,
        ).json()
        assert session["runs"][-1]["frames"], "the open review's frames were not archived"
        assert httpx.get(f"{base}/ready", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "services stopped" in rest
