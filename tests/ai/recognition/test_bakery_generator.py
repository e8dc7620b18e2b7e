"""The generator's families: a counter keeps its tray and light; the splits do not overlap."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fixtures.bakery import (
    FAMILIES,
    FITTING_FAMILIES,
    FITTING_STYLES,
    HELD_OUT_FAMILIES,
    HELD_OUT_STYLES,
    make_background,
    make_tray,
    style_of,
    style_skus,
)


def _pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.float32)


def test_fitting_and_held_out_families_and_styles_are_disjoint_and_cover_everything():
    assert not set(FITTING_FAMILIES) & set(HELD_OUT_FAMILIES)
    assert set(FITTING_FAMILIES) | set(HELD_OUT_FAMILIES) == set(FAMILIES)
    assert not set(FITTING_STYLES) & set(HELD_OUT_STYLES)
    held_out = style_skus(HELD_OUT_STYLES)
    assert held_out and all(style_of(s) in HELD_OUT_STYLES for s in held_out)
    assert all(style_of(s) == "classic" for s in style_skus(FITTING_STYLES))


def test_a_counter_keeps_its_tray_while_families_differ():
    a, b = _pixels(make_background(1, "wood", 0, 0)), _pixels(make_background(1, "wood", 0, 1))
    other = _pixels(make_background(1, "wood", 1, 0))
    white = _pixels(make_background(1, "white", 0, 0))
    # two captures of one counter differ only by a little light; another counter's grain differs
    same = np.abs(a / a.mean() - b / b.mean()).mean()
    assert same < np.abs(a / a.mean() - other / other.mean()).mean()
    assert white.mean() > a.mean() + 40


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown tray family"):
        make_tray(1, 0, [], items=["SCONE"], family="marble")
