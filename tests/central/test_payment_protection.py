"""Every way the AI can fail ends in a staff review — never in a payable tray."""

from __future__ import annotations

import socket

import pytest
from starlette.testclient import TestClient

from testkit.ai_standin import AiStandIn, answer, tiny_png

FAILURES = [
    ("slow", "TIMEOUT"),
    ("drip", "TIMEOUT"),  # every piece on time, the whole answer late
    ("error500", "HTTP_5XX"),
    ("garbage", "INVALID_RESPONSE"),
    ("contract_breach", "INVALID_RESPONSE"),
    ("close", "UNREACHABLE"),
]


def _infer(client: TestClient, session_uuid: str) -> dict:
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    )
    assert r.status_code == 201, r.text
    return r.json()


def _assert_protected(client: TestClient, session_uuid: str, body: dict, ai_status: str) -> None:
    assert body["run"]["ai_status"] == ai_status
    assert body["run"]["decision"] == "UNKNOWN"
    assert body["review"]["reason"] == "AI_UNAVAILABLE" and body["review"]["status"] == "OPEN"
    assert body["status"] == "IN_REVIEW" and body["payable"] is False
    checkout = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/checkout", json={"payment_status": "PAID"}
    )
    assert checkout.status_code == 409 and checkout.json()["error"] == "not_payable"
    assert client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["bill"] is None


@pytest.mark.parametrize(("behaviour", "ai_status"), FAILURES)
def test_ai_failure_opens_a_review(
    client: TestClient, session_uuid: str, ai: AiStandIn, behaviour: str, ai_status: str
) -> None:
    ai.behaviour, ai.delay_s = behaviour, 5.0  # the test settings time out after 3 s
    body = _infer(client, session_uuid)
    _assert_protected(client, session_uuid, body, ai_status)
    assert body["run"]["ai_error"]


def test_refused_connection_opens_a_review(make_client, store, ai: AiStandIn) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(AI_BASE_URL=f"http://127.0.0.1:{port}")
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "c"}
    ).json()
    body = _infer(client, session["uuid"])
    _assert_protected(client, session["uuid"], body, "UNREACHABLE")


def test_wrong_ai_key_is_a_failure_not_an_answer(make_client, store, ai: AiStandIn) -> None:
    client = make_client(AI_ADMIN_KEY="not-the-ai-key")
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "c"}
    ).json()
    body = _infer(client, session["uuid"])
    _assert_protected(client, session["uuid"], body, "HTTP_4XX")


@pytest.mark.parametrize("decision", ["REVIEW", "UNKNOWN"])
def test_unsure_answers_open_a_review(
    client: TestClient, session_uuid: str, ai: AiStandIn, decision: str
) -> None:
    ai.answer = answer(
        decision,
        [("SCONE", 1, 0.4), (None, 1, 0.1)] if decision == "UNKNOWN" else [("SCONE", 1, 0.5)],
    )
    body = _infer(client, session_uuid)
    assert body["run"]["ai_status"] == "OK" and body["run"]["decision"] == decision
    assert body["review"]["reason"] == decision and not body["payable"]
    assert client.post(f"/api/v1/tray-sessions/{session_uuid}/checkout", json={}).status_code == 409


def test_auto_with_an_unmatched_item_breaks_the_contract(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.answer = answer("AUTO", [("SCONE", 1, 0.99), (None, 1, 0.99)])
    body = _infer(client, session_uuid)
    _assert_protected(client, session_uuid, body, "INVALID_RESPONSE")


def test_a_rescan_after_an_outage_can_make_the_tray_payable(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.behaviour = "error500"
    first = _infer(client, session_uuid)
    ai.behaviour, ai.answer = "ok", answer("AUTO", [("CROISSANT", 2, 0.99)])
    second = _infer(client, session_uuid)
    assert second["payable"] and second["status"] == "PAYABLE"
    shown = client.get(f"/api/v1/tray-sessions/{session_uuid}").json()
    reviews = {rv["id"]: rv["status"] for rv in shown["reviews"]}
    assert reviews[first["review"]["id"]] == "SUPERSEDED"
    bill = client.post(f"/api/v1/tray-sessions/{session_uuid}/checkout", json={}).json()["bill"]
    assert bill["total_krw"] == 2 * 3800


def test_resolving_a_superseded_review_is_refused(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.answer = answer("REVIEW", [("SCONE", 1, 0.5)])
    old = _infer(client, session_uuid)["review"]
    ai.answer = answer("REVIEW", [("SCONE", 2, 0.5)])
    _infer(client, session_uuid)
    r = client.post(
        f"/api/v1/reviews/{old['id']}/resolve",
        json={"reviewer": "kim", "items": [{"sku": "SCONE", "count": 1}]},
    )
    assert r.status_code == 409 and r.json()["error"] == "review_not_open"
    assert client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["payable"] is False


@pytest.mark.parametrize(
    "items",
    [[], [("SCONE", 1_000_000, 0.99)], [("SCONE", 101, 0.99)]],
    ids=["no-items", "a-million", "just-over-the-limit"],
)
def test_an_auto_answer_that_cannot_be_billed_goes_to_review(
    client: TestClient, session_uuid: str, ai: AiStandIn, items: list
) -> None:
    """An empty AUTO tray or an absurd count breaks the contract: staff look, nobody is billed."""
    ai.answer = answer("AUTO", items)
    body = _infer(client, session_uuid)
    _assert_protected(client, session_uuid, body, "INVALID_RESPONSE")
    assert "AUTO" in body["run"]["ai_error"] or "count" in body["run"]["ai_error"]


def test_the_largest_billable_tray_is_billed_exactly(
    client: TestClient, store: dict, ai: AiStandIn
) -> None:
    """100 lines of 100 pieces at the top price: beyond INT, within BIGINT, to the won."""
    sid = store["id"]
    skus = [f"BIG-{i:03d}" for i in range(100)]
    for sku in skus:
        made = client.post(
            f"/api/v1/stores/{sid}/products",
            json={"sku": sku, "name": sku, "unit_price_krw": 10_000_000},
        )
        assert made.status_code == 201, made.text
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": sid, "counter_id": "c"}
    ).json()["uuid"]
    ai.answer = answer("REVIEW", [("SCONE", 1, 0.5)])
    review = _infer(client, session)["review"]
    resolved = client.post(
        f"/api/v1/reviews/{review['id']}/resolve",
        json={"reviewer": "kim", "items": [{"sku": s, "count": 100} for s in skus]},
    )
    assert resolved.status_code == 200, resolved.text
    bill = client.post(f"/api/v1/tray-sessions/{session}/checkout", json={}).json()["bill"]
    assert bill["total_krw"] == 100 * 100 * 10_000_000 > 2**31
