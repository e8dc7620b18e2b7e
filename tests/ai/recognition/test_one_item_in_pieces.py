"""An item the segmentation cuts in pieces (a pretzel at its waist) is still one item, both on a
tray and in a reference photo, while touching items stay apart."""

from __future__ import annotations

import pytest

from ai.recognition import Pipeline
from ai.recognition.segment import segment
from fixtures.bakery import make_tray
from tests.ai.recognition.frames import seg_input
from tools.recognition.bakery import new_pipeline

FAMILY = "kraft"
PRODUCTS = ["PRETZEL", "CREAM-BUN", "BAGUETTE", "CROISSANT"]


def _regions(frame) -> int:
    return len(segment(seg_input([frame])).areas)


@pytest.fixture(scope="module")
def kraft_counter() -> Pipeline:
    return new_pipeline(skus=PRODUCTS, family=FAMILY, counter=0, photos=5)


def test_every_pretzel_photo_is_accepted_as_one_item(kraft_counter):
    # new_pipeline registered them through the public API: every photo was kept
    assert kraft_counter.gallery.count("PRETZEL") == 5


def test_two_pretzels_cut_at_their_waists_are_counted_as_two(kraft_counter):
    tray = make_tray(
        606, 100, [], items=["PRETZEL", "PRETZEL"], n_frames=(1, 1), touch_p=0.0, family=FAMILY
    )
    assert _regions(tray.frames()[0]) == 4  # what makes this test mean something

    answer = kraft_counter.recognize(tray.frames(), PRODUCTS)

    assert {i["sku"]: i["count"] for i in answer["items"]} == {"PRETZEL": 2}


def test_touching_items_of_different_products_stay_apart(kraft_counter):
    items = ["CREAM-BUN", "CREAM-BUN", "CROISSANT", "BAGUETTE"]
    for index in range(30):
        tray = make_tray(606, index, [], items=items, n_frames=(1, 1), touch_p=1.0, family=FAMILY)
        if tray.touching:
            break
    else:
        pytest.fail("no tray with touching items among the first 30")

    answer = kraft_counter.recognize(tray.frames(), PRODUCTS)

    assert {i["sku"]: i["count"] for i in answer["items"]} == tray.counts
