"""The staff key runs the floor (reviews, frames, photos) and cannot touch prices or stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.ai_standin import AiStandIn, answer, tiny_png

STAFF_KEY = "staff-key-for-tests"


@pytest.fixture
def staffed(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(STAFF_KEY=STAFF_KEY)


def _as_staff(key: str = STAFF_KEY) -> dict[str, str]:
    return {"X-ADMIN-KEY": "", "X-STAFF-KEY": key}


def _open_review(client: TestClient, store: dict[str, Any], ai: AiStandIn) -> dict[str, Any]:
    ai.answer = answer("REVIEW", [("SCONE", 1, 0.5)])
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "c"}
    ).json()
    r = client.post(
        f"/api/v1/tray-sessions/{session['uuid']}/infer", json={"frames_b64": [tiny_png()]}
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_staff_sees_the_queue_and_resolves(
    staffed: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    opened = _open_review(staffed, store, ai)
    queue = staffed.get(f"/api/v1/reviews?store_id={store['id']}&status=OPEN", headers=_as_staff())
    assert queue.status_code == 200
    assert [item["id"] for item in queue.json()["items"]] == [opened["review"]["id"]]
    frame = staffed.get(opened["run"]["frames"][0]["image"], headers=_as_staff())
    assert frame.status_code == 200
    resolved = staffed.post(
        f"/api/v1/reviews/{opened['review']['id']}/resolve",
        json={"reviewer": "kim", "items": [{"sku": "SCONE", "count": 2}]},
        headers=_as_staff(),
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["session_status"] == "PAYABLE"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/stores/{store}/products/SCONE", {"unit_price_krw": 1}),
        ("POST", "/api/v1/stores/{store}/products", {"sku": "X", "name": "x", "unit_price_krw": 1}),
        ("PATCH", "/api/v1/stores/{store}", {"active": False}),
        ("POST", "/api/v1/stores", {"code": "NEW", "name": "n"}),
    ],
)
def test_staff_cannot_change_prices_or_stores(
    staffed: TestClient, store: dict[str, Any], method: str, path: str, body: dict[str, Any]
) -> None:
    r = staffed.request(method, path.format(store=store["id"]), json=body, headers=_as_staff())
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert "admin key" in r.json()["message"]
    product = staffed.get(f"/api/v1/stores/{store['id']}/products/SCONE").json()
    assert product["unit_price_krw"] == 3300 and product["active"] is True
    assert staffed.get(f"/api/v1/stores/{store['id']}").json()["active"] is True


def test_a_wrong_staff_key_is_refused(staffed: TestClient, store: dict[str, Any]) -> None:
    r = staffed.get("/api/v1/reviews", headers=_as_staff("not-the-staff-key"))
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def test_without_staff_key_set_no_staff_key_works(
    client: TestClient, store: dict[str, Any]
) -> None:
    r = client.get("/api/v1/reviews", headers=_as_staff())
    assert r.status_code == 401


def test_the_admin_key_still_does_everything(staffed: TestClient, store: dict[str, Any]) -> None:
    r = staffed.patch(f"/api/v1/stores/{store['id']}/products/SCONE", json={"unit_price_krw": 3400})
    assert r.status_code == 200 and r.json()["unit_price_krw"] == 3400
