"""Segmentation on saturated and dark trays, whose JPEG noise is strong in the weak channels."""

from __future__ import annotations

import io

from PIL import Image

from ai.recognition.segment import segment
from fixtures.bakery import SEEDS, make_reference, make_tray
from tests.ai.recognition.frames import seg_input
from tools.recognition.segeval import compare, truth_labels


def test_each_item_on_red_blue_and_slate_trays_is_found_as_one_region():
    """Pale, glazed and brown items, apart, on the three noisiest trays; no capture."""
    items = ["SUGAR-DONUT", "CREAM-BUN", "CROISSANT", "WHITE-BUN"]
    flaws = []
    for family in ("red-plastic", "blue-plastic", "dark-slate"):
        for index in (70, 71):
            tray = make_tray(
                606, index, [], items=items, n_frames=(1, 1), touch_p=0.0, family=family
            )
            labels = segment(seg_input(tray.frames())).labels[:, 0].numpy()
            got = compare(truth_labels(tray, 0, labels.shape[1:]), labels[0])
            found = {k: got[k] for k in ("split", "merged", "missed", "faint")}
            if any(found.values()) or min(got["iou"]) < 0.5:
                flaws.append((family, index, found, got["iou"]))
    assert not flaws


def test_a_dark_trays_blocky_jpeg_colour_noise_is_not_taken_for_items():
    """A slate tray's JPEG noise is a few levels out of 255 in sparse blocks, which the
    logarithm magnifies on a dark tray: a reference photo of one bagel is one region."""
    jpeg = make_reference(SEEDS["references"], "BAGEL-SESAME", 3, "dark-slate", 3)
    frame = Image.open(io.BytesIO(jpeg)).convert("RGB")
    assert len(segment(seg_input([frame])).areas) == 1


def test_the_rim_of_a_glare_spot_on_a_red_tray_is_not_an_item():
    jpeg = make_reference(SEEDS["references"], "CHEESE-BALL", 4, "red-plastic", 3)
    frame = Image.open(io.BytesIO(jpeg)).convert("RGB")
    assert len(segment(seg_input([frame])).areas) == 1
