"""`nox -s gpu_smoke` on the CPU: the structure runs, and a missing GPU is one clear line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from ai.smoke import compare, run_smoke

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


def test_the_cpu_variant_checks_every_tray_and_prints_latency():
    out = io.StringIO()

    status = run_smoke(cpu=True, pipeline="mock", repeat=2, fixtures=ROOT / "fixtures", out=out)

    report = out.getvalue()
    assert status == 0, report
    fixture_trays = sorted(p.name for p in (ROOT / "fixtures" / "trays").iterdir() if p.is_dir())
    tray_lines = [line for line in report.splitlines() if line.startswith("  ") and "p50=" in line]
    names = [line.split()[0] for line in tray_lines]
    assert names == fixture_trays + [f"synthetic-{i}" for i in range(4)]
    assert all(line.endswith("ok") for line in tray_lines)
    assert f"all {len(fixture_trays) + 4} trays answer on cpu as on cpu" in report


def test_the_cpu_variant_runs_the_real_pipeline():
    result = smoke("--cpu", "--repeat", "1")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "real pipeline" in result.stdout
    trays = [line for line in result.stdout.splitlines() if line.startswith("  bakery-")]
    assert len(trays) == 6 and all(line.endswith("ok") for line in trays)
    assert "gpu_smoke: ok: all 6 trays answer on cpu as on cpu" in result.stdout


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
