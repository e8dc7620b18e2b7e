"""Reference photos are checked one by one: a bad photo is refused with its reason, others kept."""

from __future__ import annotations

import pytest
from PIL import Image

from ai.recognition import create_recognizer
from ai.recognizer import Learner, TooManyPhotos
from fixtures.bakery import TRAY_RGB, make_reference, make_tray
from tools.recognition.bakery import jpeg_to_image, reference_images


@pytest.fixture()
def recognizer(tmp_path):
    r = create_recognizer("cpu", str(tmp_path / "gallery.pt"))
    r.load()
    return r


def test_a_photo_with_no_item_is_refused_with_its_index_while_the_others_are_kept(recognizer):
    assert isinstance(recognizer, Learner)
    good = reference_images("CREAM-BUN", 2)
    empty = Image.new("RGB", (1280, 960), TRAY_RGB)
    two = make_tray(606, 70, [], items=["CREAM-BUN", "CHEESE-BALL"], n_frames=(1, 1), touch_p=0)

    outcomes = recognizer.register("CREAM-BUN", [good[0], empty, two.frames()[0], good[1]])

    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert [o.added for o in outcomes] == [True, False, False, True]
    assert "no item" in (outcomes[1].reason or "")
    assert "2 items" in (outcomes[2].reason or "")
    listed = recognizer.photos("CREAM-BUN")
    assert [p["id"] for p in listed] == [outcomes[0].photo_id, outcomes[3].photo_id]
    assert all(p["added_at"].endswith("+00:00") for p in listed)


def test_photos_on_another_tray_are_accepted():
    r = create_recognizer("cpu", None)
    r.load()
    shots = [jpeg_to_image(make_reference(1, "MACARON-PINK", k, "white", 0)) for k in range(2)]
    shots += [jpeg_to_image(make_reference(1, "SUGAR-DONUT", k, "cream", 0)) for k in range(2)]
    assert all(o.added for o in r.register("X", shots))


def test_a_photo_can_be_deleted_and_replaced_and_the_limit_adds_nothing(recognizer, tmp_path):
    photos = reference_images("BAGUETTE", 5)
    outcomes = recognizer.register("BAGUETTE", photos[:4])
    assert all(o.added for o in outcomes)
    with pytest.raises(TooManyPhotos) as over:
        recognizer.register("BAGUETTE", photos[4:] + photos[:1])
    assert over.value.limit == 5 and over.value.registered == 4
    assert len(recognizer.photos("BAGUETTE")) == 4  # nothing was added

    first = outcomes[0].photo_id
    assert recognizer.delete_photo("BAGUETTE", first) is True
    assert recognizer.delete_photo("BAGUETTE", first) is False
    assert recognizer.delete_photo("CROISSANT", outcomes[1].photo_id) is False
    assert all(o.added for o in recognizer.register("BAGUETTE", photos[4:]))
    ids = [p["id"] for p in recognizer.photos("BAGUETTE")]
    assert first not in ids and len(ids) == 4

    # saved: a restart lists the same photos
    again = create_recognizer("cpu", str(tmp_path / "gallery.pt"))
    again.load()
    assert [p["id"] for p in again.photos("BAGUETTE")] == ids


def test_a_counter_background_is_captured_and_used(recognizer):
    empty = make_tray(606, 71, [], items=[], n_frames=(2, 2))
    out = recognizer.capture_background("front-1", empty.frames())
    assert out["counter_id"] == "front-1" and out["frames"] == 2
    with pytest.raises(ValueError, match="item"):
        recognizer.capture_background("front-2", make_tray(606, 72, [], items=["SCONE"]).frames())
    with pytest.raises(ValueError, match="1 to 4 frames"):
        recognizer.capture_background("front-2", empty.frames() * 3)
