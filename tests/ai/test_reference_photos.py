"""Reference photos over the service's HTTP API: each photo is judged on its own, and a product's
photos can be listed and deleted so a bad one can be replaced."""

from __future__ import annotations

import pytest
from PIL import Image

from ai.mock import MockRecognizer
from contract import MAX_PHOTOS
from tests.ai import images
from tests.ai.conftest import AUTH

PATH = "/v1/products/NEW-PASTRY/photos"


def photo(shade: int) -> str:
    """A product photo: an item on a tray, different pixels per shade."""
    return images.b64(images.png(images.tray((shade, 120, 60))))


def blank() -> str:
    """A photo with nothing on it: one uniform colour."""
    return images.b64(images.png(Image.new("RGB", (320, 240), (235, 232, 225))))


def register(client, photos: list[str], path: str = PATH):
    return client.post(path, json={"photos_b64": photos}, headers=AUTH)


def listed(client, path: str = PATH) -> list[str]:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["photos"]]


def test_photos_join_the_gallery_each_with_an_id(client) -> None:
    response = register(client, [photo(100), photo(140), photo(180)])

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sku"] == "NEW-PASTRY" and body["refused"] == []
    assert [a["index"] for a in body["added"]] == [0, 1, 2]
    ids = [a["id"] for a in body["added"]]
    assert len(set(ids)) == 3
    assert [p["id"] for p in body["photos"]] == ids
    assert all(p["added_at"] for p in body["photos"])
    assert listed(client) == ids


def test_a_photo_with_no_item_is_refused_by_index_and_the_others_are_kept(client) -> None:
    response = register(client, [photo(100), blank(), photo(180)])

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "photos_refused"
    assert body["frame"] == 1
    assert "photo 1: no item found" in body["message"]
    assert [r["index"] for r in body["refused"]] == [1]
    assert "no item found" in body["refused"][0]["reason"]
    assert [a["index"] for a in body["added"]] == [0, 2]
    assert listed(client) == [a["id"] for a in body["added"]]


def test_every_refused_photo_is_named_with_its_own_reason(client) -> None:
    marked = images.b64(images.png(images.tray((90, 90, 90)), marker="REFUSE several items"))

    response = register(client, [blank(), photo(150), marked])

    assert response.status_code == 422
    assert response.json()["refused"] == [
        {"index": 0, "reason": "no item found: the photo is one uniform colour"},
        {"index": 2, "reason": "several items"},
    ]
    assert len(listed(client)) == 1


def test_more_photos_than_the_products_limit_is_409_and_adds_nothing(client) -> None:
    assert register(client, [photo(100 + 10 * n) for n in range(MAX_PHOTOS - 1)]).status_code == 201

    response = register(client, [photo(200), photo(210)])

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "too_many_photos" and body["limit"] == "MAX_PHOTOS"
    assert (body["registered"], body["given"], body["max"]) == (MAX_PHOTOS - 1, 2, MAX_PHOTOS)
    assert str(MAX_PHOTOS) in body["message"]
    assert len(listed(client)) == MAX_PHOTOS - 1


def test_a_bad_photo_is_deleted_and_replaced(client) -> None:
    ids = [a["id"] for a in register(client, [photo(100), photo(140)]).json()["added"]]

    deleted = client.delete(f"{PATH}/{ids[0]}", headers=AUTH)

    assert deleted.status_code == 200
    body = deleted.json()
    assert (body["sku"], body["deleted"]) == ("NEW-PASTRY", ids[0])
    assert [p["id"] for p in body["photos"]] == [ids[1]]
    assert listed(client) == [ids[1]]
    again = client.delete(f"{PATH}/{ids[0]}", headers=AUTH)
    assert again.status_code == 404 and again.json()["error"] == "photo_not_found"
    assert register(client, [photo(220)]).status_code == 201
    assert len(listed(client)) == 2


def test_a_product_without_photos_lists_none(client) -> None:
    response = client.get("/v1/products/NEVER-SEEN/photos", headers=AUTH)

    assert response.status_code == 200
    assert response.json() == {
        "sku": "NEVER-SEEN",
        "store_id": "default",
        "photos": [],
        "max": MAX_PHOTOS,
    }
    assert client.delete("/v1/products/NEVER-SEEN/photos/abc", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"photos_b64": []}, 422, "invalid_photo_count"),
        ({"photos_b64": ["x"] * (MAX_PHOTOS + 1)}, 422, "invalid_photo_count"),
        ({"photos": []}, 422, "invalid_request"),
        ({"photos_b64": [images.b64(b"GIF89a" + b"\0" * 20)]}, 415, "unsupported_format"),
    ],
)
def test_bad_photo_requests_are_refused_and_add_nothing(client, body, status, error) -> None:
    r = client.post("/v1/products/SCONE/photos", json=body, headers=AUTH)
    assert r.status_code == status and r.json()["error"] == error
    assert listed(client, "/v1/products/SCONE/photos") == []


def test_an_unreadable_photo_refuses_the_batch_naming_it(client) -> None:
    r = register(client, [photo(100), images.b64(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)])

    assert r.status_code == 400 and r.json()["frame"] == 1
    assert listed(client) == []


def test_an_overlong_sku_is_422(client) -> None:
    r = register(client, [photo(100)], path=f"/v1/products/{'S' * 129}/photos")
    assert r.status_code == 422 and r.json()["error"] == "invalid_sku"


class _RefusesTheBatch(MockRecognizer):
    """A recognizer that refuses a batch with a ValueError instead of per-photo outcomes."""

    def register(self, sku, photos, store_id="default"):
        raise ValueError("no item found in reference photo 0")


def test_a_recognizer_refusing_the_batch_is_a_422_not_a_500(make_client) -> None:
    client = make_client(_RefusesTheBatch())

    r = register(client, [photo(100)])

    assert r.status_code == 422
    assert r.json()["error"] == "photos_refused"
    assert "reference photo 0" in r.json()["message"]


def test_photo_routes_need_the_key(client) -> None:
    assert client.post(PATH, json={"photos_b64": []}).status_code == 401
    assert client.get(PATH).status_code == 401
    assert client.delete(f"{PATH}/x").status_code == 401
