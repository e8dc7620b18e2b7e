"""`nox -s gpu_smoke` on the CPU: the structure runs, and a missing GPU is one clear line."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ai.smoke import SAMPLES, SmokeError, compare, load_samples, registered, run_smoke

ROOT = Path(__file__).resolve().parents[2]


def smoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ai", "smoke", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        # One torch thread, as in the recognition tests: spinning OpenMP threads on CI's two busy
        # cores slow the real pipeline down many-fold.
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        timeout=300,
    )


def test_without_a_gpu_it_fails_with_one_clear_line():
    result = smoke("--repeat", "1", CUDA_VISIBLE_DEVICES="")

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "CUDA is not visible" in lines[0]
    assert "--cpu" in lines[0]
    # What the VM's operator needs to see the mismatch: torch's CUDA build and the driver.
    assert "built for CUDA" in lines[0] and "NVIDIA driver" in lines[0]


def test_the_cpu_variant_checks_every_tray_and_prints_latency():
    out = io.StringIO()

    status = run_smoke(cpu=True, pipeline="mock", repeat=2, out=out)

    report = out.getvalue()
    assert status == 0, report
    manifest = json.loads((SAMPLES / "manifest.json").read_text())
    tray_lines = [line for line in report.splitlines() if line.startswith("  ") and "p50=" in line]
    names = [line.split()[0] for line in tray_lines]
    assert names == [t["name"] for t in manifest["trays"]] + [f"synthetic-{i}" for i in range(4)]
    assert all(line.endswith("ok") for line in tray_lines)
    assert f"all {len(names)} trays answer on cpu as on cpu" in report


def test_the_cpu_variant_runs_the_real_pipeline_on_the_committed_samples():
    result = smoke("--cpu", "--repeat", "1")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "real pipeline" in result.stdout
    assert "built for CUDA" in result.stdout  # the device line comes first
    trays = [line for line in result.stdout.splitlines() if line.startswith("  tray-")]
    assert len(trays) == 4 and all(line.endswith("ok") for line in trays)
    assert "gpu_smoke: ok: all 4 trays answer on cpu as on cpu" in result.stdout


def test_the_smoke_runs_from_the_shipped_files_without_fixtures(tmp_path: Path):
    # What the VM gets: ai/, contract/ and servicekit/, no fixtures/ and no tests/.
    for package in ("ai", "contract", "servicekit"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    result = subprocess.run(
        [sys.executable, "-m", "ai", "smoke", "--cpu", "--pipeline", "mock", "--repeat", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "fixtures").exists()


def test_a_bad_repeat_is_one_usage_line():
    result = smoke("--repeat", "0")

    assert result.returncode == 2
    assert "must be 1 or more" in result.stderr and "Traceback" not in result.stderr


def test_missing_samples_are_one_clear_error(tmp_path: Path):
    with pytest.raises(SmokeError, match="unreadable"):
        load_samples(tmp_path)
    err = io.StringIO()
    sys_stderr, sys.stderr = sys.stderr, err
    try:
        status = run_smoke(cpu=True, pipeline="mock", repeat=1, samples=tmp_path, out=io.StringIO())
    finally:
        sys.stderr = sys_stderr
    assert status == 1 and "smoke samples" in err.getvalue()


@dataclass(frozen=True)
class PhotoOutcome:
    """The shape of the recognizer seam's per-photo registration outcome."""

    index: int
    photo_id: str | None = None
    reason: str | None = None


def test_registration_counts_added_photos_in_either_answer_shape():
    outcomes = [
        PhotoOutcome(0, photo_id="p1"),
        PhotoOutcome(1, reason="no item found"),
        PhotoOutcome(2, photo_id="p2"),
    ]
    assert registered(outcomes) == 2
    assert registered(tuple(outcomes[1:2])) == 0
    assert registered({"sku": "SCONE", "added": 3}) == 3
    with pytest.raises(SmokeError):
        registered(None)


def _answer(decision="AUTO", confidence=0.95, box=(10, 10, 50, 50), sku="CROISSANT"):
    return {
        "decision": decision,
        "items": [
            {
                "sku": sku,
                "count": 1,
                "confidence": confidence,
                "boxes": [{"frame": 0, "box": list(box)}],
            },
        ],
    }


def test_compare_tolerates_float_noise_but_not_different_answers():
    assert compare(_answer(confidence=0.951, box=(11, 9, 50, 52)), _answer()) == []
    assert compare(_answer(decision="REVIEW"), _answer()) == ["decision REVIEW vs AUTO"]
    assert compare(_answer(sku="BAGEL-PLAIN"), _answer()) == ["items differ"]
    assert compare(_answer(confidence=0.90), _answer()) != []
    assert compare(_answer(box=(30, 10, 70, 50)), _answer()) == ["CROISSANT boxes differ"]
