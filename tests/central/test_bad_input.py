"""Bad input gets a 4xx JSON error that names the problem, and nothing is written."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.testclient import TestClient

from testkit.ai_standin import AiStandIn, answer, tiny_jpeg_b64, tiny_png
from tests.central.conftest import count_rows

WRITE_TABLES = [
    "recognition_runs",
    "recognition_items",
    "reviews",
    "bills",
    "idempotency_keys",
    "tray_sessions",
]


@pytest.fixture
def unchanged(client: TestClient):
    """Assert that the test wrote no row to any table that records a tray's story."""
    before = {table: count_rows(client, table) for table in WRITE_TABLES}
    yield
    assert {table: count_rows(client, table) for table in WRITE_TABLES} == before


BAD_FRAMES = [
    ({"frames_b64": ["not base64!!"]}, 422, "invalid_base64"),
    ({"frames_b64": [base64.b64encode(b"GIF89a....").decode()]}, 422, "unsupported_frame_format"),
    ({"frames_b64": []}, 422, "invalid_field"),
    ({"frames_b64": "abc"}, 422, "invalid_field"),
    ({"frames_b64": [tiny_png(), 5]}, 422, "invalid_frame"),
    ({"frames_b64": [tiny_png()] * 5}, 422, "too_many_frames"),
    ({"frames": [tiny_png()]}, 422, "invalid_field"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_FRAMES)
def test_bad_frames(
    client, session_uuid, ai: AiStandIn, unchanged, body: dict[str, Any], status: int, code: str
) -> None:
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json=body, headers={"Idempotency-Key": "k"}
    )
    assert r.status_code == status and r.json()["error"] == code, r.text
    assert r.json()["message"]
    assert ai.requests == []


def test_frame_errors_name_the_frame_and_the_limit(client, session_uuid, unchanged) -> None:
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png(), "%%%"]}
    )
    assert r.json()["frame"] == 1 and "frames_b64[1]" in r.json()["message"]
    too_many = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()] * 5}
    )
    assert too_many.json()["limit"] == "max_frames" and too_many.json()["max"] == 4


def test_oversized_frame_is_413_naming_the_limit(make_client, store, ai) -> None:
    client = make_client(MAX_FRAME_BYTES="1000")
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "c"}
    ).json()
    big = base64.b64encode(b"\xff\xd8\xff" + b"\0" * 2000).decode()
    r = client.post(f"/api/v1/tray-sessions/{session['uuid']}/infer", json={"frames_b64": [big]})
    assert (
        r.status_code == 413 and r.json()["limit"] == "max_frame_bytes" and r.json()["frame"] == 0
    )
    assert client.get(f"/api/v1/tray-sessions/{session['uuid']}").json()["runs"] == []
    assert ai.requests == []


def test_oversized_body_is_413_naming_the_limit(make_client, store, ai) -> None:
    client = make_client(MAX_BODY_BYTES="2048")
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "c"}
    ).json()
    payload = {"frames_b64": [base64.b64encode(b"\xff\xd8\xff" + b"\1" * 4096).decode()]}
    r = client.post(f"/api/v1/tray-sessions/{session['uuid']}/infer", json=payload)
    assert (
        r.status_code == 413 and r.json()["limit"] == "max_body_bytes" and r.json()["max"] == 2048
    )
    # Without Content-Length (chunked), the limit still holds.
    chunks = (b'{"frames_b64": ["' + b"A" * 1024 for _ in range(4))
    streamed = client.post(
        f"/api/v1/tray-sessions/{session['uuid']}/infer",
        content=chunks,
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413 and streamed.json()["error"] == "payload_too_large"
    assert client.get(f"/api/v1/tray-sessions/{session['uuid']}").json()["runs"] == []
    assert ai.requests == []


def test_invalid_json(client, session_uuid, unchanged) -> None:
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"


def test_unknown_session_and_store(client, store, unchanged) -> None:
    r = client.post(
        "/api/v1/tray-sessions/00000000-0000-0000-0000-000000000000/infer",
        json={"frames_b64": [tiny_png()]},
    )
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.post("/api/v1/tray-sessions", json={"store_id": 987654321, "counter_id": "c"})
    assert r.status_code == 404 and r.json()["store_id"] == 987654321
    r = client.post("/api/v1/tray-sessions", json={"store_id": "one", "counter_id": "c"})
    assert r.status_code == 422 and r.json()["field"] == "store_id"


@pytest.mark.parametrize(
    ("items", "code", "field"),
    [
        ([{"sku": "NOPE", "count": 1}], "unknown_sku", "items[0].sku"),
        ([{"sku": "SCONE", "count": -1}], "invalid_field", "items[0].count"),
        ([{"sku": "SCONE", "count": 0}], "invalid_field", "items[0].count"),
        ([{"sku": "SCONE", "count": 1.5}], "invalid_field", "items[0].count"),
        (
            [{"sku": "SCONE", "count": 1}, {"sku": "SCONE", "count": 2}],
            "invalid_field",
            "items[1].sku",
        ),
        ([], "invalid_field", "items"),
    ],
)
def test_bad_resolutions_change_nothing(client, session_uuid, ai, items, code, field) -> None:
    ai.answer = answer("REVIEW", [("SCONE", 1, 0.5)])
    review = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    ).json()["review"]
    r = client.post(
        f"/api/v1/reviews/{review['id']}/resolve", json={"reviewer": "kim", "items": items}
    )
    assert r.status_code == 422 and r.json()["error"] == code and r.json()["field"] == field, r.text
    after = client.get(f"/api/v1/reviews/{review['id']}").json()
    assert after["status"] == "OPEN" and after["final_items"] is None
    assert client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["status"] == "IN_REVIEW"


def test_inactive_products_cannot_be_resolved_or_recognized(
    client, store, session_uuid, ai
) -> None:
    client.patch(f"/api/v1/stores/{store['id']}/products/SCONE", json={"active": False})
    client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]})
    assert "SCONE" not in ai.requests[-1]["body"]["candidate_skus"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "", "name": "x"}, "code"),
        ({"code": "has space", "name": "x"}, "code"),
        ({"code": "OK1"}, "name"),
        ({"code": "OK2", "name": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ({"code": "OK3", "name": "x", "active": "yes"}, "active"),
        ({"code": "OK4", "name": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_store_bodies(client, body, field) -> None:
    before = len(client.get("/api/v1/stores", params={"limit": 200}).json()["items"])
    r = client.post("/api/v1/stores", json=body)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert len(client.get("/api/v1/stores", params={"limit": 200}).json()["items"]) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "X1", "name": "x", "unit_price_krw": -100}, "unit_price_krw"),
        ({"sku": "X2", "name": "x", "unit_price_krw": 12.5}, "unit_price_krw"),
        ({"sku": "X3", "name": "x", "unit_price_krw": "1000"}, "unit_price_krw"),
        ({"sku": "bad sku", "name": "x", "unit_price_krw": 1000}, "sku"),
    ],
)
def test_bad_products(client, store, body, field) -> None:
    r = client.post(f"/api/v1/stores/{store['id']}/products", json=body)
    assert r.status_code == 422 and r.json()["field"] == field
    assert client.get(f"/api/v1/stores/{store['id']}/products/{body['sku']}").status_code == 404


def test_duplicates_are_409(client, store) -> None:
    r = client.post("/api/v1/stores", json={"code": store["code"], "name": "again"})
    assert r.status_code == 409 and r.json()["error"] == "store_code_taken"
    r = client.post(
        f"/api/v1/stores/{store['id']}/products",
        json={"sku": "SCONE", "name": "x", "unit_price_krw": 1},
    )
    assert r.status_code == 409 and r.json()["error"] == "sku_taken"


def test_bad_checkout_body(client, session_uuid, ai) -> None:
    ai.answer = answer("AUTO", [("SCONE", 1, 0.99)])
    client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]})
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/checkout", json={"payment_status": "MAYBE"}
    )
    assert r.status_code == 422 and r.json()["field"] == "payment_status"
    assert client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["bill"] is None


def test_the_largest_tray_the_frame_limits_allow_fits_the_body_limit(
    client, session_uuid, ai
) -> None:
    settings = client.app.state.settings
    jpeg = base64.b64decode(tiny_jpeg_b64())
    # A decoder stops at the JPEG's end marker: the padding after it only fills the limit.
    frame = base64.b64encode(jpeg + b"\0" * (settings.max_frame_bytes - len(jpeg))).decode()
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer",
        json={"frames_b64": [frame] * settings.max_frames},
    )
    assert r.status_code == 201, r.text[:200]
    assert len(ai.requests[-1]["body"]["frames_b64"]) == settings.max_frames
