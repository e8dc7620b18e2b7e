"""Every store has its own gallery at the AI: the same SKU in two stores keeps separate photos and
a separate limit; a new store can be seeded with another store's photos."""

from __future__ import annotations

from typing import Any

from contract import MAX_PHOTOS
from tests.ai import images
from tests.ai.conftest import AUTH, infer

SKU = "BAGEL-SESAME"
PATH = f"/v1/products/{SKU}/photos"


def photo(shade: int) -> str:
    return images.b64(images.png(images.tray((shade, 120, 60))))


def register(client: Any, shades: list[int], store: str | None = None, sku: str = SKU):
    body: dict[str, Any] = {"photos_b64": [photo(s) for s in shades]}
    if store is not None:
        body["store_id"] = store
    return client.post(f"/v1/products/{sku}/photos", json=body, headers=AUTH)


def listed(client: Any, store: str | None = None, sku: str = SKU) -> list[str]:
    params = {} if store is None else {"store_id": store}
    response = client.get(f"/v1/products/{sku}/photos", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["photos"]]


def seed(client: Any, store: str, body: dict[str, Any]):
    return client.post(f"/v1/stores/{store}/seed", json=body, headers=AUTH)


def test_two_stores_keep_separate_photos_of_the_same_sku(client) -> None:
    first = register(client, [100, 140], store="1")
    second = register(client, [200], store="2")

    assert first.status_code == 201 and second.status_code == 201, second.text
    assert second.json()["store_id"] == "2"
    assert len(listed(client, "1")) == 2
    assert listed(client, "2") == [second.json()["added"][0]["id"]]
    assert listed(client) == []  # the default store has none


def test_each_store_has_its_own_limit_of_photos_per_product(client) -> None:
    assert register(client, list(range(100, 100 + MAX_PHOTOS)), store="1").status_code == 201
    assert register(client, [90], store="1").status_code == 409

    again = register(client, list(range(150, 150 + MAX_PHOTOS)), store="2")
    assert again.status_code == 201, again.text
    assert len(listed(client, "2")) == MAX_PHOTOS


def test_a_photo_is_deleted_only_in_its_own_store(client) -> None:
    photo_id = register(client, [100], store="1").json()["added"][0]["id"]
    register(client, [100], store="2")  # the same photo, so the same id, in another store

    response = client.delete(f"{PATH}/{photo_id}", params={"store_id": "1"}, headers=AUTH)

    assert response.status_code == 200, response.text
    assert response.json()["store_id"] == "1" and response.json()["photos"] == []
    assert listed(client, "2") == [photo_id]
    gone = client.delete(f"{PATH}/{photo_id}", params={"store_id": "1"}, headers=AUTH)
    assert gone.status_code == 404 and "'1'" in gone.json()["message"]


def test_a_request_without_a_store_is_the_default_store(client) -> None:
    assert register(client, [100]).json()["store_id"] == "default"
    assert len(listed(client, "default")) == 1


def test_a_store_is_seeded_with_another_stores_photos(client) -> None:
    register(client, [100, 140], store="1")
    register(client, [120], store="1", sku="CROISSANT")

    response = seed(client, "2", {"from_store_id": "1"})

    assert response.status_code == 200, response.text
    assert response.json() == {
        "store_id": "2",
        "from_store_id": "1",
        "copied": {SKU: 2, "CROISSANT": 1},
    }
    assert listed(client, "2") == listed(client, "1")
    # seeding again copies nothing twice
    assert seed(client, "2", {"from_store_id": "1"}).json()["copied"] == {SKU: 0, "CROISSANT": 0}
    assert len(listed(client, "2")) == 2


def test_seeding_some_skus_copies_only_those(client) -> None:
    register(client, [100], store="1")
    register(client, [120], store="1", sku="CROISSANT")

    response = seed(client, "3", {"from_store_id": "1", "skus": ["CROISSANT", "SCONE"]})

    assert response.status_code == 200, response.text
    assert response.json()["copied"] == {"CROISSANT": 1, "SCONE": 0}
    assert listed(client, "3") == [] and len(listed(client, "3", sku="CROISSANT")) == 1


def test_seeding_from_a_store_without_photos_is_404_naming_it(client) -> None:
    response = seed(client, "2", {"from_store_id": "nowhere"})

    assert response.status_code == 404
    assert response.json()["error"] == "store_not_found"
    assert "'nowhere'" in response.json()["message"]


def test_seeding_past_the_limit_copies_nothing(client) -> None:
    register(client, [100, 110, 120], store="1")
    register(client, [200, 210, 220], store="2")

    response = seed(client, "2", {"from_store_id": "1"})

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "too_many_photos" and body["limit"] == "MAX_PHOTOS"
    assert body["over"] == {SKU: {"registered": 3, "copying": 3}}
    assert f"limit of {MAX_PHOTOS}" in body["message"]
    assert len(listed(client, "2")) == 3


def test_bad_store_ids_are_refused_naming_the_rule(client) -> None:
    cases = [
        register(client, [100], store="a/b"),
        register(client, [100], store="x" * 65),
        client.get(PATH, params={"store_id": "가게"}, headers=AUTH),
        client.delete(f"{PATH}/abc", params={"store_id": ""}, headers=AUTH),
        infer(client, [images.png()], store_id=7),
        client.post(
            "/v1/feedback",
            json={"tray_id": "t", "items": [{"sku": SKU, "count": 1}], "store_id": "a b"},
            headers=AUTH,
        ),
        seed(client, "a.b", {"from_store_id": "1"}),
        seed(client, "2", {"from_store_id": "no spaces"}),
    ]
    for response in cases:
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_store_id"
        assert response.json()["limit"] == "STORE_ID_PATTERN"


def test_a_seed_needs_a_source_other_than_the_target(client) -> None:
    register(client, [100], store="1")
    assert seed(client, "1", {"from_store_id": "1"}).status_code == 422
    assert seed(client, "2", {}).status_code == 422
    assert seed(client, "2", {"from_store_id": "1", "skus": "BAGEL"}).status_code == 422
    assert seed(client, "2", {"from_store_id": "1", "skus": []}).status_code == 422


def test_infer_and_feedback_name_their_store(client) -> None:
    response = infer(client, [images.png()], store_id="2", tray_id="tray-1")
    assert response.status_code == 200, response.text
    learned = client.post(
        "/v1/feedback",
        json={"tray_id": "tray-1", "items": [{"sku": SKU, "count": 1}], "store_id": "2"},
        headers=AUTH,
    )
    assert learned.status_code == 200, learned.text
    assert learned.json()["store_id"] == "2"
