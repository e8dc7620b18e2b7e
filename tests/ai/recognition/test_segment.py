"""Segmentation: items on the plain tray, touching items split apart."""

from __future__ import annotations

from PIL import Image, ImageDraw

from ai.recognition.items import box_iou
from ai.recognition.segment import segment
from fixtures.bakery import TRAY_RGB, make_tray
from tests.ai.recognition.frames import seg_input


def test_two_touching_discs_come_apart():
    im = Image.new("RGB", (1280, 960), TRAY_RGB)
    d = ImageDraw.Draw(im)
    d.ellipse([300, 300, 500, 500], fill=(200, 140, 70))  # touches the next one at x = 500
    d.ellipse([500, 320, 660, 480], fill=(190, 120, 60))
    d.ellipse([900, 600, 1000, 700], fill=(230, 200, 140))  # a separate small one
    r = segment(seg_input([im]))
    assert len(r.areas) == 3
    boxes = sorted(r.boxes.tolist())
    # at segmentation scale (1/4): the big disc ends near x = 125, the touching one starts there
    assert abs(boxes[0][2] - 125) <= 3 and abs(boxes[1][0] - 125) <= 3


PAIRS = [
    ["CREAM-BUN", "MUFFIN-BLUEBERRY"],
    ["DONUT-GLAZED", "SOBORO"],
    ["CHEESE-BALL", "RED-BEAN-BUN"],
    ["BAGEL-PLAIN", "BAGEL-SESAME"],
    ["CROISSANT", "EGG-TART"],
    ["MELON-PAN", "CINNAMON-ROLL"],
    ["SCONE", "CHEESE-BALL"],
    ["GARLIC-BREAD", "MUFFIN-CHOCOCHIP"],
]


def test_generated_touching_items_are_counted_and_boxed():
    """Eight generated trays of three items, each item touching another one."""
    exact = 0
    for i, pair in enumerate(PAIRS):
        tray = make_tray(606, 10 + i, [], items=pair + pair[:1], n_frames=(1, 1), touch_p=1.0)
        assert tray.touching == 2  # the generator really made them touch
        r = segment(seg_input(tray.frames()))
        if len(r.areas) != 3:
            continue
        pred = [[v * 4 for v in b] for b in r.boxes.tolist()]
        exact += all(max(box_iou(t[0], p) for p in pred) > 0.7 for t in tray.boxes)
    # measured: 6 of 8 (a bagel pair and a melon pan / cinnamon roll pair stay merged: their
    # safety net sends such trays to staff); the evaluation reports the full picture
    assert exact >= 6


def test_empty_tray_has_no_items():
    im = Image.new("RGB", (1280, 960), TRAY_RGB)
    assert len(segment(seg_input([im])).areas) == 0
