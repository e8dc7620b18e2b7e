"""A lamp whose colour changed since the reference photos sends the tray to staff, naming it."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from ai.recognition import Pipeline
from ai.recognition.gallery import Gallery
from ai.recognition.light import LIGHT_SHIFT, light_range, light_shift
from fixtures.bakery import SEEDS, make_reference, make_tray

FAMILY, COUNTER = "red-plastic", 3
PRODUCTS = ("SUGAR-DONUT", "DONUT-GLAZED", "CROISSANT")


def _image(jpeg: bytes) -> Image.Image:
    return Image.open(io.BytesIO(jpeg)).convert("RGB")


def _tinted(img: Image.Image, gains: tuple[float, float, float]) -> Image.Image:
    """The frame as a camera would shoot it under a lamp of another colour (JPEG again)."""
    a = np.asarray(img).astype(np.float32) * np.array(gains, dtype=np.float32)
    buf = io.BytesIO()
    Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return _image(buf.getvalue())


@pytest.fixture(scope="module")
def counter() -> tuple[Pipeline, list[Image.Image]]:
    """References shot at one counter, and a tray of the same counter."""
    p = Pipeline.load("cpu", None)
    for sku in PRODUCTS:
        shots = [make_reference(SEEDS["references"], sku, k, FAMILY, COUNTER) for k in range(3)]
        p.register(sku, [_image(j) for j in shots])
    tray = make_tray(
        SEEDS["tests"],
        5,
        [],
        items=["SUGAR-DONUT", "SUGAR-DONUT", "CROISSANT"],
        n_frames=(2, 2),
        touch_p=0.0,
        family=FAMILY,
        counter=COUNTER,
    )
    return p, tray.frames()


def test_a_tray_under_the_references_light_is_not_held_for_it(counter) -> None:
    p, frames = counter
    ans = p.recognize(frames, list(PRODUCTS))
    assert "light" not in ans["reason"]
    assert p.last_detail["light_shift"] <= LIGHT_SHIFT / 2


@pytest.mark.parametrize("gains", [(1.08, 1.0, 0.86), (0.88, 1.0, 1.1)], ids=["warmer", "cooler"])
def test_a_lamp_of_another_colour_sends_the_tray_to_staff(counter, gains) -> None:
    p, frames = counter
    ans = p.recognize([_tinted(f, gains) for f in frames], list(PRODUCTS))
    assert ans["decision"] != "AUTO"
    assert "the light's colour differs from the reference photos'" in ans["reason"]


def test_a_brighter_or_darker_exposure_is_not_a_lamp_change(counter) -> None:
    p, frames = counter
    for gain in (0.75, 1.2):
        p.recognize([_tinted(f, (gain,) * 3) for f in frames], list(PRODUCTS))
        assert p.last_detail["light_shift"] <= LIGHT_SHIFT / 2


def test_references_under_two_lights_admit_trays_under_either() -> None:
    refs = torch.tensor([[-0.3, 0.1, 0.2], [-0.2, 0.05, 0.15], [float("nan")] * 3])
    span = light_range(refs)
    assert span is not None
    assert light_shift(torch.tensor([[-0.3, 0.1, 0.2], [-0.25, 0.08, 0.17]]), span) == 0.0
    assert light_shift(torch.tensor([[-0.1, 0.0, 0.1]]), span) > LIGHT_SHIFT
    assert light_range(refs[2:]) is None  # none recorded


def test_the_lights_are_saved_with_the_gallery_and_older_files_have_none(counter) -> None:
    p, _ = counter
    again = Gallery.from_bytes(p.gallery.to_bytes())
    assert torch.equal(again.lights, p.gallery.lights)
    assert not again.lights.isnan().any()
    older = p.gallery.to_state()
    del older["lights"]
    assert Gallery.from_state(older).lights.isnan().all()
