"""The calibration's size limit: tight enough that a merged pair is not billed, loose enough
that right items are not all sent to staff; it picks whichever automates more at the targets."""

from __future__ import annotations

from tools.recognition.calibrate import fit_thresholds, simulate

LOGIT = (20.0, 4.0, 0.0, 0.0)


def _tray(sku_seen: str, truth: str, ratio: float, over: float, margin: float) -> dict:
    top1 = 0.9 + over
    return {
        "top1": [top1],
        "top2": [top1 - margin],
        "top3": [top1 - margin - 0.1],
        "over": [over],
        "over2": [over - margin - 0.2],
        "agreement": [1.0],
        "correct": [sku_seen == truth],
        "size_ratio": [ratio],
        "leftover": [0.0],
        "spreads": [1.0],
        "agree": True,
        "doubt": "",
        "rival": [0.0],
        "frame": [0],
        "best": [sku_seen],
        "truth": {truth: 1},
    }


def _right_trays() -> list[dict]:
    trays = [_tray("A", "A", 1.0, 0.0, 0.35) for _ in range(300)]
    # the tail of right items' sizes: two items half again as large as their references
    return trays + [_tray("A", "A", 1.5, 0.0, 0.35) for _ in range(2)]


def _fit(trays: list[dict]):
    return fit_thresholds(trays, LOGIT, 0.5, "test-embedder", 100.0, 1.3)


def test_a_merged_pair_in_the_size_tail_tightens_the_size_limit_not_the_threshold() -> None:
    # two items merged into one region, labelled more confidently than most right items
    trays = [*_right_trays(), _tray("B", "A", 1.55, 0.01, 0.4)]

    found = _fit(trays)

    assert found is not None
    cal, auto, upper = found
    assert upper < 0.998 and cal.size_ratio[1] < 1.55
    assert simulate(trays, cal) == (auto, 0)  # nothing billed wrong
    assert auto >= 300  # every right tray but the size tail is AUTO


def test_without_such_a_pair_the_loosest_size_limit_is_kept() -> None:
    found = _fit(_right_trays())

    assert found is not None
    cal, auto, upper = found
    assert upper == 0.998 and cal.size_ratio[1] >= 1.5 * 1.05 - 1e-9
    assert auto == 302
