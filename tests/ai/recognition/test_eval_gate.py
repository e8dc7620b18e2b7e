"""`nox -s eval` is a gate: it exits non-zero when an aim is missed."""

from __future__ import annotations

import json

from ai.recognition.pipeline import DEFAULT_CALIBRATION
from tools.recognition import evaluate


def _summary(**changes: float) -> dict:
    good = {"wrong_auto": 0.0, "missing_auto": 0, "automation": 0.9, "cAcc": 0.97}
    return {"no capture": {**good, **changes}, "capture": dict(good)}


def test_every_aim_is_checked():
    assert evaluate.check_aims(_summary()) == []
    assert evaluate.check_aims(_summary(wrong_auto=0.006)) == [
        "no capture: wrong_auto 0.0060, aim <= 0.005"
    ]
    assert len(evaluate.check_aims(_summary(missing_auto=1))) == 1
    assert len(evaluate.check_aims(_summary(automation=0.8, cAcc=0.9))) == 2


def test_the_gate_fails_on_a_deliberately_broken_configuration(tmp_path, capsys):
    """Thresholds that never allow AUTO: automation is 0, the evaluation must exit 1."""
    broken = tmp_path / "broken-calibration.json"
    art = json.loads(DEFAULT_CALIBRATION.read_text(encoding="utf-8"))
    broken.write_text(json.dumps({**art, "auto_confidence": 1.01}), encoding="utf-8")
    status = evaluate.main(
        [
            "--families", "teal-plastic",
            "--skus", "CREAM-BUN,CHEESE-BALL",
            "--photos", "1",
            "--trays", "2",
            "--unknown-trays", "0",
            "--calibration", str(broken),
        ]
    )  # fmt: skip
    out = capsys.readouterr()
    assert status == 1
    assert "automation" in out.err and "MISSED" in out.out
    assert "| teal-plastic | fitting | capture |" in out.out


def test_the_gate_refuses_an_unknown_family(capsys):
    assert evaluate.main(["--families", "marble", "--trays", "1"]) == 2
    assert "unknown tray families" in capsys.readouterr().out
