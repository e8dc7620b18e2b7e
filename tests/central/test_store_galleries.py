"""Central names its store in every call to the AI, so each store has its own gallery there, and
an operator seeds a new store's gallery from another store's photos."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from tests.support.ai_standin import AiStandIn, tiny_jpeg_b64, tiny_png


def _second_store(client: TestClient) -> dict[str, Any]:
    created = client.post(
        "/api/v1/stores", json={"code": f"T-{uuid.uuid4().hex[:10]}", "name": "Second bakery"}
    )
    assert created.status_code == 201, created.text
    store = created.json()
    r = client.post(
        f"/api/v1/stores/{store['id']}/products",
        json={"sku": "SCONE", "name": "Scone", "unit_price_krw": 3000},
    )
    assert r.status_code == 201, r.text
    return store


def _photos(client: TestClient, store: dict[str, Any], sku: str = "SCONE") -> list[str]:
    r = client.get(f"/api/v1/stores/{store['id']}/products/{sku}/photos")
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["photos"]]


def test_every_call_to_the_ai_names_the_store(
    client: TestClient, store: dict[str, Any], session_uuid: str, ai: AiStandIn
) -> None:
    base = f"/api/v1/stores/{store['id']}"
    client.post(f"{base}/products/SCONE/photos", json={"photos_b64": [tiny_png()]})
    client.get(f"{base}/products/SCONE/photos")
    client.delete(f"{base}/products/SCONE/photos/some-photo")
    client.post(f"{base}/counters/counter-1/background", json={"frames_b64": [tiny_png()]})
    ai.answer = None
    ai.behaviour = "ok"
    client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]})

    sent = {(r["method"], r["path"].split("?")[0]): r for r in ai.requests}
    store_id = str(store["id"])
    assert sent[("POST", "/v1/products/SCONE/photos")]["body"]["store_id"] == store_id
    assert sent[("GET", "/v1/products/SCONE/photos")]["path"].endswith(f"?store_id={store_id}")
    delete = sent[("DELETE", "/v1/products/SCONE/photos/some-photo")]
    assert delete["path"].endswith(f"?store_id={store_id}")
    background = sent[("POST", f"/v1/counters/s{store_id}-counter-1/background")]
    assert background["body"]["store_id"] == store_id
    assert sent[("POST", "/v1/infer")]["body"]["store_id"] == store_id


def test_a_resolved_review_teaches_the_stores_gallery(
    make_client: Callable[..., TestClient], store: dict[str, Any], ai: AiStandIn
) -> None:
    with make_client() as client:
        session = client.post(
            "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "counter-1"}
        ).json()["uuid"]
        ai.behaviour = "error500"
        review = client.post(
            f"/api/v1/tray-sessions/{session}/infer", json={"frames_b64": [tiny_png()]}
        ).json()["review"]
        ai.behaviour = "ok"
        r = client.post(
            f"/api/v1/reviews/{review['id']}/resolve",
            json={"reviewer": "kim", "items": [{"sku": "SCONE", "count": 1}]},
        )
        assert r.status_code == 200, r.text
    feedback = [r for r in ai.requests if r["path"] == "/v1/feedback"]
    assert feedback and feedback[-1]["body"]["store_id"] == str(store["id"])


def test_two_stores_keep_separate_photos_and_limits_of_one_sku(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    other = _second_store(client)
    five = [tiny_jpeg_b64(n) for n in range(5)]
    first = client.post(
        f"/api/v1/stores/{store['id']}/products/SCONE/photos", json={"photos_b64": five}
    )
    assert first.status_code == 201, first.text

    second = client.post(
        f"/api/v1/stores/{other['id']}/products/SCONE/photos", json={"photos_b64": five[:2]}
    )

    assert second.status_code == 201, second.text  # store one's five do not count here
    assert len(_photos(client, store)) == 5 and len(_photos(client, other)) == 2
    assert not set(_photos(client, store)) & set(_photos(client, other))


def test_a_store_is_seeded_with_another_stores_photos(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    other = _second_store(client)
    client.post(
        f"/api/v1/stores/{store['id']}/products/SCONE/photos",
        json={"photos_b64": [tiny_png(), tiny_jpeg_b64(1)]},
    )

    r = client.post(
        f"/api/v1/stores/{other['id']}/gallery/seed",
        json={"from_store_id": store["id"], "skus": ["SCONE"]},
    )

    assert r.status_code == 200, r.text
    assert r.json() == {
        "store_id": other["id"],
        "from_store_id": store["id"],
        "copied": {"SCONE": 2},
    }
    assert _photos(client, other) == _photos(client, store)
    (sent,) = [r for r in ai.requests if r["path"] == f"/v1/stores/{other['id']}/seed"]
    assert sent["body"] == {"from_store_id": str(store["id"]), "skus": ["SCONE"]}


def test_the_ais_refusal_of_a_seed_passes_on_with_its_detail(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    other = _second_store(client)
    url = f"/api/v1/stores/{other['id']}/gallery/seed"

    nothing = client.post(url, json={"from_store_id": store["id"]})
    assert nothing.status_code == 404
    assert nothing.json()["error"] == "store_not_found"
    assert f"store '{store['id']}' has no reference photos" in nothing.json()["message"]

    client.post(
        f"/api/v1/stores/{store['id']}/products/SCONE/photos",
        json={"photos_b64": [tiny_jpeg_b64(n) for n in range(3)]},
    )
    client.post(
        f"/api/v1/stores/{other['id']}/products/SCONE/photos",
        json={"photos_b64": [tiny_jpeg_b64(n) for n in range(10, 13)]},
    )
    over = client.post(url, json={"from_store_id": store["id"]})
    assert over.status_code == 409
    assert over.json()["error"] == "too_many_photos" and over.json()["limit"] == "MAX_PHOTOS"
    assert len(_photos(client, other)) == 3


def test_a_seed_is_checked_before_the_ai_is_asked(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    url = f"/api/v1/stores/{store['id']}/gallery/seed"
    cases = [
        ({"from_store_id": store["id"]}, 422, "from_store_id"),
        ({"from_store_id": "1"}, 422, "from_store_id"),
        ({"from_store_id": 2**31 - 1}, 404, None),
        ({"from_store_id": store["id"] + 10_000, "skus": []}, 422, "skus"),
        ({"from_store_id": store["id"] + 10_000, "skus": ["no spaces"]}, 422, "skus"),
        ({"from_store_id": store["id"] + 10_000, "extra": 1}, 422, None),
    ]
    for body, status, field in cases:
        r = client.post(url, json=body)
        assert r.status_code == status, (body, r.text)
        if field:
            assert r.json()["field"] == field
    missing = client.post("/api/v1/stores/999999/gallery/seed", json={"from_store_id": store["id"]})
    assert missing.status_code == 404
    assert not [r for r in ai.requests if "/seed" in r["path"]]


def test_seeding_is_the_admins_task(
    make_client: Callable[..., TestClient], store: dict[str, Any]
) -> None:
    with make_client(STAFF_KEY="staff-key-for-seeding") as staffed:
        r = staffed.post(
            f"/api/v1/stores/{store['id']}/gallery/seed",
            json={"from_store_id": store["id"] + 1},
            headers={"X-ADMIN-KEY": "", "X-STAFF-KEY": "staff-key-for-seeding"},
        )
    assert r.status_code == 403
