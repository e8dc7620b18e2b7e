"""The real pipeline keeps a gallery per store: a store's trays match only its own references,
a seeded store matches the copied ones, and every store's gallery survives a restart."""

from __future__ import annotations

import pytest

from ai.recognition import create_recognizer
from ai.recognition.gallery import Gallery
from ai.recognition.service import PipelineRecognizer
from ai.recognizer import (
    SeedPassesLimit,
    StoreHasNoReferences,
    TooManyPhotos,
    TrayRequest,
    recognize,
)
from contract import MAX_PHOTOS
from fixtures.bakery import make_tray
from tools.recognition.bakery import reference_images

SKUS = ("CROISSANT", "BAGEL-SESAME")


@pytest.fixture()
def recognizer(tmp_path) -> PipelineRecognizer:
    r = create_recognizer("cpu", str(tmp_path / "galleries.pt"))
    r.load()
    return r


def _croissant_tray():
    return make_tray(606, 90, [], items=["CROISSANT"], n_frames=(1, 1), touch_p=0.0).frames()


def _answered(r: PipelineRecognizer, store: str) -> set[str | None]:
    answer = recognize(r, TrayRequest(_croissant_tray(), SKUS, 3, store_id=store))
    return {item.sku for item in answer.items}


def test_a_store_matches_only_its_own_references_until_it_is_seeded(recognizer) -> None:
    for sku in SKUS:
        assert all(o.added for o in recognizer.register(sku, reference_images(sku, 3), "A"))
    assert all(
        o.added
        for o in recognizer.register("BAGEL-SESAME", reference_images("BAGEL-SESAME", 2), "B")
    )

    assert _answered(recognizer, "A") == {"CROISSANT"}
    assert "CROISSANT" not in _answered(recognizer, "B")  # store A's croissants are not B's
    assert recognizer.photos("CROISSANT", "B") == []

    copied = recognizer.seed("B", "A", ["CROISSANT"])

    assert copied == {"CROISSANT": 3}
    assert recognizer.photos("CROISSANT", "B") == recognizer.photos("CROISSANT", "A")
    assert _answered(recognizer, "B") == {"CROISSANT"}
    assert len(recognizer.photos("BAGEL-SESAME", "B")) == 2  # B's own photos stay its own
    assert recognizer.seed("B", "A", ["CROISSANT"]) == {"CROISSANT": 0}  # nothing twice


def test_the_limit_is_per_store_and_seeding_past_it_copies_nothing(recognizer) -> None:
    photos = reference_images("CROISSANT", MAX_PHOTOS)
    assert all(o.added for o in recognizer.register("CROISSANT", photos, "A"))
    with pytest.raises(TooManyPhotos):
        recognizer.register("CROISSANT", photos[:1], "A")
    assert all(o.added for o in recognizer.register("CROISSANT", photos[:2], "B"))

    with pytest.raises(SeedPassesLimit) as over:
        recognizer.seed("B", "A")
    assert over.value.over == {"CROISSANT": (2, MAX_PHOTOS)}
    assert len(recognizer.photos("CROISSANT", "B")) == 2
    with pytest.raises(StoreHasNoReferences):
        recognizer.seed("C", "nowhere")


def test_every_stores_gallery_survives_a_restart(recognizer, tmp_path) -> None:
    recognizer.register("CROISSANT", reference_images("CROISSANT", 2), "A")
    recognizer.register("CROISSANT", reference_images("CROISSANT", 1, seed=7), "B")
    deleted = recognizer.photos("CROISSANT", "A")[0]["id"]
    assert recognizer.delete_photo("CROISSANT", deleted, "A")

    again = create_recognizer("cpu", str(tmp_path / "galleries.pt"))
    again.load()

    assert again.photos("CROISSANT", "A") == recognizer.photos("CROISSANT", "A")
    assert again.photos("CROISSANT", "B") == recognizer.photos("CROISSANT", "B")
    assert len(again.photos("CROISSANT", "A")) == 1 and again.store_ids() == ["A", "B"]


def test_a_single_store_gallery_file_loads_as_the_default_store(recognizer, tmp_path) -> None:
    recognizer.register("CROISSANT", reference_images("CROISSANT", 2), "default")
    single: Gallery = recognizer.pipeline.gallery  # the default store's gallery, as a file of old
    old = tmp_path / "old-gallery.pt"
    old.write_bytes(single.to_bytes())

    loaded = create_recognizer("cpu", str(old))
    loaded.load()

    assert loaded.store_ids() == ["default"]
    assert loaded.photos("CROISSANT") == recognizer.photos("CROISSANT")
    assert loaded.photos("CROISSANT", "A") == []


def _confidences(r: PipelineRecognizer, store: str) -> list[float]:
    answer = recognize(r, TrayRequest(_croissant_tray(), SKUS, 3, store_id=store))
    return [item.confidence for item in answer.items]


def test_a_stores_confidence_does_not_depend_on_the_store_served_before(tmp_path) -> None:
    path = str(tmp_path / "galleries.pt")
    setup = create_recognizer("cpu", path)
    setup.load()
    for sku in SKUS:  # store A: several photos a product; store B: one (a different typical score)
        setup.register(sku, reference_images(sku, 4), "A")
        setup.register(sku, reference_images(sku, 1, seed=7), "B")

    only_b = create_recognizer("cpu", path)
    only_b.load()
    a_then_b = create_recognizer("cpu", path)
    a_then_b.load()
    _confidences(a_then_b, "A")

    assert _confidences(a_then_b, "B") == _confidences(only_b, "B")
