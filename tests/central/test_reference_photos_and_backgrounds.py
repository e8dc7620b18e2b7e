"""Staff manage the AI's reference photos and counter backgrounds through Central; what the AI
refuses reaches them as a 4xx with the AI's own detail, never as "AI unavailable"."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.ai_standin import AiStandIn, no_item_jpeg_b64, tiny_jpeg_b64, tiny_png


def photos_url(store: dict[str, Any], sku: str = "SCONE") -> str:
    return f"/api/v1/stores/{store['id']}/products/{sku}/photos"


def test_photos_are_registered_listed_and_deleted_through_central(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    url = photos_url(store)

    added = client.post(url, json={"photos_b64": [tiny_png(), tiny_jpeg_b64(1)]})

    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["sku"], body["store_id"], body["refused"]) == ("SCONE", store["id"], [])
    ids = [a["id"] for a in body["added"]]
    assert ai.requests[-1]["path"] == "/v1/products/SCONE/photos"
    listed = client.get(url)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["photos"]] == ids
    deleted = client.delete(f"{url}/{ids[0]}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] == ids[0]
    assert [p["id"] for p in client.get(url).json()["photos"]] == ids[1:]
    assert ai.requests[-2]["method"] == "DELETE"


def test_a_photo_with_no_item_is_422_naming_it_and_the_others_are_kept(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    url = photos_url(store)

    response = client.post(
        url, json={"photos_b64": [tiny_png(), no_item_jpeg_b64(), tiny_jpeg_b64(2)]}
    )

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "photos_refused"
    assert body["message"].startswith("photo 1: no item found")
    assert body["frame"] == 1
    assert body["refused"] == [{"index": 1, "reason": "no item found"}]
    assert [a["index"] for a in body["added"]] == [0, 2]
    assert (body["sku"], body["store_id"]) == ("SCONE", store["id"])
    assert len(client.get(url).json()["photos"]) == 2


def test_more_photos_than_the_limit_is_409_naming_it(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    url = photos_url(store)
    assert client.post(url, json={"photos_b64": [tiny_jpeg_b64(n) for n in range(4)]}).is_success

    response = client.post(url, json={"photos_b64": [tiny_png(), tiny_png()]})

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "too_many_photos"
    assert (body["limit"], body["max"], body["registered"]) == ("MAX_PHOTOS", 5, 4)
    assert "limit of 5" in body["message"]


def test_deleting_a_photo_the_product_lacks_is_404(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    response = client.delete(f"{photos_url(store)}/scone-9")

    assert response.status_code == 404
    assert response.json()["error"] == "photo_not_found"
    asked = len(ai.requests)
    strange = client.delete(f"{photos_url(store)}/.%20hidden")
    assert strange.status_code == 404 and strange.json()["error"] == "photo_not_found"
    assert len(ai.requests) == asked  # an id the AI never gives is not forwarded


@pytest.mark.parametrize(
    ("method", "body"),
    [("POST", {"photos_b64": [tiny_png()]}), ("GET", None), ("DELETE", None)],
)
def test_photos_of_a_product_the_store_lacks_are_404_without_asking_the_ai(
    client: TestClient, store: dict[str, Any], ai: AiStandIn, method: str, body: Any
) -> None:
    url = photos_url(store, "NOPE") + ("/x1" if method == "DELETE" else "")

    response = client.request(method, url, json=body)

    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert ai.requests == []


def test_bad_photo_requests_are_refused_before_the_ai(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    url = photos_url(store)
    too_many = client.post(url, json={"photos_b64": [tiny_png()] * 6})
    assert too_many.status_code == 422 and too_many.json()["limit"] == "max_photos"
    gif = client.post(url, json={"photos_b64": ["R0lGODlhAQABAAAAACw="]})
    assert gif.status_code == 422 and gif.json()["error"] == "unsupported_frame_format"
    assert ai.requests == []


def test_the_ais_refusal_of_a_format_passes_on_with_its_status(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    ai.behaviour = "reject_photos"

    refused = client.post(photos_url(store), json={"photos_b64": [tiny_png()]})

    assert refused.status_code == 422 and refused.json()["error"] == "unsupported_format"
    assert refused.json()["message"] == "frame 0: GIF"


@pytest.mark.parametrize("behaviour", ["error500", "garbage", "close"])
@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_an_ai_that_fails_is_ai_unavailable(
    client: TestClient, store: dict[str, Any], ai: AiStandIn, behaviour: str, method: str
) -> None:
    ai.behaviour = behaviour
    url = photos_url(store) + ("/x1" if method == "DELETE" else "")
    body = {"photos_b64": [tiny_png()]} if method == "POST" else None

    response = client.request(method, url, json=body)

    assert response.status_code == 502 and response.json()["error"] == "ai_unavailable"


def test_a_wrong_ai_key_is_ai_unavailable_not_the_staffs_fault(
    make_client, store: dict[str, Any], ai: AiStandIn
) -> None:
    client = make_client(AI_ADMIN_KEY="not-the-ai-key")

    response = client.get(photos_url(store))

    assert response.status_code == 502 and response.json()["error"] == "ai_unavailable"


def background_url(store: dict[str, Any], counter: str = "counter-1") -> str:
    return f"/api/v1/stores/{store['id']}/counters/{counter}/background"


def test_a_counters_background_is_forwarded_under_the_stores_name_for_it(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    response = client.post(
        background_url(store), json={"frames_b64": [tiny_jpeg_b64(1), tiny_jpeg_b64(2)]}
    )

    assert response.status_code == 201, response.text
    assert (response.json()["store_id"], response.json()["counter_id"]) == (
        store["id"],
        "counter-1",
    )
    request = ai.requests[-1]
    assert request["path"] == f"/v1/counters/s{store['id']}-counter-1/background"
    assert request["body"] == {
        "frames_b64": [tiny_jpeg_b64(1), tiny_jpeg_b64(2)],
        "store_id": str(store["id"]),
    }


def test_a_background_the_ai_refuses_is_422_with_its_reason(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    response = client.post(
        background_url(store), json={"frames_b64": [tiny_png(), no_item_jpeg_b64()]}
    )

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_background"
    assert response.json()["message"] == "frame 1: items are on the tray"
    assert response.json()["counter_id"] == "counter-1"


def test_a_trays_counter_reaches_the_ai(
    client: TestClient, store: dict[str, Any], session_uuid: str, ai: AiStandIn
) -> None:
    response = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    )

    assert response.status_code == 201, response.text
    assert ai.requests[-1]["body"]["counter_id"] == f"s{store['id']}-counter-1"


@pytest.mark.parametrize(
    ("counter", "body", "status", "error"),
    [
        ("counter 1", {"frames_b64": ["x"]}, 422, "invalid_field"),
        ("c" * 33, {"frames_b64": [tiny_png()]}, 422, "invalid_field"),
        ("-c", {"frames_b64": [tiny_png()]}, 422, "invalid_field"),
        ("counter-1", {"frames_b64": []}, 422, "invalid_field"),
        ("counter-1", {"frames_b64": [tiny_png()] * 5}, 422, "too_many_frames"),
        ("counter-1", {"frames_b64": [tiny_png()], "extra": 1}, 422, "invalid_field"),
    ],
)
def test_bad_captures_are_refused_before_the_ai(
    client: TestClient,
    store: dict[str, Any],
    ai: AiStandIn,
    counter: str,
    body: dict[str, Any],
    status: int,
    error: str,
) -> None:
    response = client.post(background_url(store, counter), json=body)

    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert ai.requests == []


def test_a_background_for_an_unknown_store_is_404(client: TestClient, ai: AiStandIn) -> None:
    response = client.post(
        "/api/v1/stores/999999999/counters/counter-1/background",
        json={"frames_b64": [tiny_png()]},
    )

    assert response.status_code == 404 and ai.requests == []
