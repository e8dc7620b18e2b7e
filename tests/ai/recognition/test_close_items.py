"""Small items lying a few pixels apart are counted one by one; a groove is not a gap."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image, ImageDraw, ImageFilter

from ai.recognition.segment import SegmentParams, segment
from tests.ai.recognition.frames import seg_input

LIGHT_TRAY = (236, 234, 230)
GOLDEN = (178, 112, 52)


def _financiers(gap: int, blur: float) -> Image.Image:
    """Four small golden bars in a row on a light tray, `gap` frame pixels apart, the camera's
    blur spreading each outline onto the tray (at segmentation scale the gaps are 3-4 pixels)."""
    im = Image.new("RGB", (1280, 960), LIGHT_TRAY)
    d = ImageDraw.Draw(im)
    for k in range(4):
        x = 400 + k * (44 + gap)
        d.rounded_rectangle([x, 420, x + 44, 520], radius=8, fill=GOLDEN)
    return im.filter(ImageFilter.GaussianBlur(blur))


@pytest.mark.parametrize(("gap", "blur"), [(12, 3), (16, 3), (16, 5)])
def test_close_small_items_are_four_regions(gap: int, blur: float) -> None:
    x = seg_input([_financiers(gap, blur)])
    assert len(segment(x).areas) == 4
    # what the bridges between them cost: without looking for gaps, the row is one region
    assert len(segment(x, replace(SegmentParams(), gap=0)).areas) == 1


def _grooved_bun() -> Image.Image:
    """A round bun whose cut, filled with a cream of nearly the tray's colour, runs from its
    edge to its middle: joined to the tray, as pale as a gap, yet not between two items."""
    im = Image.new("RGB", (1280, 960), LIGHT_TRAY)
    d = ImageDraw.Draw(im)
    d.ellipse([480, 330, 800, 650], fill=GOLDEN)
    d.line([(480, 490), (640, 490)], fill=(228, 224, 212), width=14)
    return im.filter(ImageFilter.GaussianBlur(3))


def test_a_cut_from_an_items_edge_does_not_split_it() -> None:
    r = segment(seg_input([_grooved_bun()]))
    assert len(r.areas) == 1
