"""Segmentation on trays other than the generator's teal: pale items, rings, knots, sprinkles."""

from __future__ import annotations

from PIL import Image

from ai.recognition.items import box_iou
from ai.recognition.segment import segment
from fixtures.bakery import make_tray
from tests.ai.recognition.frames import seg_input


def _found(tray, index: int = 0) -> tuple[int, list[float]]:
    """(regions found, best box IoU of each true item) in frame 0."""
    r = segment(seg_input(tray.frames()[:1]))
    pred = [[v * 4 for v in b] for b in r.boxes.tolist()]
    best = [max((box_iou(t[0], p) for p in pred), default=0.0) for t in tray.boxes]
    return len(pred), best


def test_pale_items_on_a_light_tray_are_found():
    """A white bun, a cheesecake slice, a pastel macaron and a sugar donut on a white tray."""
    items = ["WHITE-BUN", "CHEESECAKE", "MACARON-PINK", "SUGAR-DONUT"]
    for family in ("white", "cream"):
        tray = make_tray(606, 50, [], items=items, n_frames=(1, 1), touch_p=0.0, family=family)
        n, best = _found(tray)
        assert n == len(items), (family, n)
        assert min(best) >= 0.6, (family, best)


def test_a_ring_a_knot_and_a_sprinkled_item_are_each_one_item():
    items = ["SPRINKLE-DONUT", "KNOT-ROLL", "POPPY-BAGEL", "SEED-ROLL"]
    for family, index in (("parchment", 51), ("light-grey", 52), ("dark-slate", 53)):
        tray = make_tray(606, index, [], items=items, n_frames=(1, 1), touch_p=0.0, family=family)
        n, best = _found(tray)
        assert n == len(items), (family, n)  # not split into pieces
        assert min(best) >= 0.7, (family, best)


def test_shadows_of_a_low_lamp_and_glare_are_not_items():
    """Generated counters have one-sided shadows and glare spots: an empty tray has no items."""
    import io
    import json

    from ai.recognition.pipeline import DEFAULT_CALIBRATION
    from fixtures.bakery import make_background

    # the limit the pipeline applies: the committed calibration's
    limit = json.loads(DEFAULT_CALIBRATION.read_text(encoding="utf-8"))["leftover_area"]

    # (not yet clean: the JPEG ringing around a clipped glare spot on a grey tray can show up
    # as leftover, and a slate tray's blocky colour noise as small regions: never AUTO, a review)
    for family in ("white", "wood", "dark-slate", "backlit-white", "red-plastic"):
        for k in range(2):
            frame = Image.open(io.BytesIO(make_background(9, family, 2, k)))
            r = segment(seg_input([frame.convert("RGB")]))
            assert len(r.areas) == 0, family
            # nothing the safety net would stop the tray for
            assert r.leftover is not None
            assert int(r.leftover[0]) <= limit, family
