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


def test_the_report_says_why_trays_went_to_staff():
    from tools.recognition.bakery import TrayResult, metrics

    def tray(decision: str, reason: str) -> TrayResult:
        return TrayResult("t", {"A": 1}, {"A": 1}, False, decision, reason)

    got = metrics(
        [
            tray("AUTO", "all items matched with confidence above the AUTO threshold"),
            tray("REVIEW", "lowest item confidence 0.611 is below the AUTO threshold 0.745"),
            tray("REVIEW", "lowest item confidence 0.702 is below the AUTO threshold 0.745"),
            tray(
                "REVIEW",
                "an item region is 2.10x the size of A's references: touching items not "
                "separated, or something else with it (frame 0, x 0.1-0.3, y 0.2-0.4 of the frame)",
            ),
            tray("UNKNOWN", "1 item crop(s) matched none of the candidates"),
        ]
    )

    assert got["not_auto_because"] == {
        "low confidence": 2,
        "region too large": 1,
        "unknown item": 1,
    }
