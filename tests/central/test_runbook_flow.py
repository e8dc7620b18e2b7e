"""The runbook's §11 check, end to end: store → session → infer → review → resolve → checkout."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from testkit.ai_standin import AiStandIn, answer, tiny_jpeg_b64, tiny_png


def test_review_flow_from_tray_to_bill(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    assert client.get("/api/v1/stores").status_code == 200
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "c1"}
    ).json()
    assert session["status"] == "OPEN" and not session["payable"]

    ai.answer = answer("REVIEW", [("BAGEL-PLAIN", 2, 0.62), ("CROISSANT", 1, 0.97)])
    r = client.post(
        f"/api/v1/tray-sessions/{session['uuid']}/infer",
        json={"frames_b64": [tiny_png(), tiny_jpeg_b64(1)]},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["run"]["decision"] == "REVIEW" and body["run"]["ai_status"] == "OK"
    assert body["run"]["model_version"] == "standin-1"
    assert [(i["sku"], i["count"]) for i in body["run"]["items"]] == [
        ("BAGEL-PLAIN", 2),
        ("CROISSANT", 1),
    ]
    assert body["review"]["status"] == "OPEN" and body["review"]["reason"] == "REVIEW"
    assert body["status"] == "IN_REVIEW" and not body["payable"]

    # Central sent the frames, the store's active SKUs and its AI key.
    sent = ai.requests[-1]
    assert sent["path"] == "/v1/infer"
    assert sent["body"]["candidate_skus"] == ["BAGEL-PLAIN", "BAGEL-SESAME", "CROISSANT", "SCONE"]
    assert len(sent["body"]["frames_b64"]) == 2

    # Not payable until staff resolve the review.
    blocked = client.post(f"/api/v1/tray-sessions/{session['uuid']}/checkout", json={})
    assert blocked.status_code == 409 and blocked.json()["error"] == "not_payable"

    open_reviews = client.get(
        "/api/v1/reviews", params={"store_id": store["id"], "status": "OPEN"}
    ).json()
    assert [rv["id"] for rv in open_reviews["items"]] == [body["review"]["id"]]
    resolved = client.post(
        f"/api/v1/reviews/{body['review']['id']}/resolve",
        json={
            "reviewer": "staff-kim",
            "items": [{"sku": "BAGEL-SESAME", "count": 2}, {"sku": "CROISSANT", "count": 1}],
        },
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolved_by"] == "staff-kim"
    assert resolved.json()["session_status"] == "PAYABLE"

    bill = client.post(
        f"/api/v1/tray-sessions/{session['uuid']}/checkout",
        json={"payment_status": "PAID", "payment_reference": "card-0001"},
    )
    assert bill.status_code == 201, bill.text
    b = bill.json()["bill"]
    assert b["total_krw"] == 2 * 3500 + 3800
    assert (
        b["source"] == "REVIEW"
        and b["payment_status"] == "PAID"
        and b["payment_reference"] == "card-0001"
    )
    assert [(line["sku"], line["count"], line["unit_price_krw"]) for line in b["lines"]] == [
        ("BAGEL-SESAME", 2, 3500),
        ("CROISSANT", 1, 3800),
    ]
    assert bill.json()["status"] == "CHECKED_OUT"

    again = client.post(f"/api/v1/tray-sessions/{session['uuid']}/checkout", json={})
    assert again.status_code == 409 and again.json()["error"] == "already_checked_out"
    shown = client.get(f"/api/v1/tray-sessions/{session['uuid']}").json()
    assert shown["bill"]["total_krw"] == b["total_krw"] and len(shown["runs"]) == 1


def test_auto_tray_is_billed_from_server_prices(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.answer = answer("AUTO", [("SCONE", 3, 0.99)])
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    )
    assert r.status_code == 201 and r.json()["review"] is None and r.json()["payable"]
    bill = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/checkout", json={"payment_status": "PAID"}
    )
    assert bill.status_code == 201
    assert bill.json()["bill"]["total_krw"] == 3 * 3300
    assert bill.json()["bill"]["source"] == "AUTO"


def test_price_changes_after_billing_do_not_change_the_bill(
    client: TestClient, store: dict[str, Any], session_uuid: str, ai: AiStandIn
) -> None:
    ai.answer = answer("AUTO", [("CROISSANT", 1, 0.99)])
    client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]})
    client.post(f"/api/v1/tray-sessions/{session_uuid}/checkout", json={})
    client.patch(f"/api/v1/stores/{store['id']}/products/CROISSANT", json={"unit_price_krw": 9999})
    bill = client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["bill"]
    assert bill["lines"][0]["unit_price_krw"] == 3800 and bill["total_krw"] == 3800


def test_resolving_a_review_teaches_the_ai(
    client: TestClient, store: dict[str, Any], session_uuid: str, ai: AiStandIn
) -> None:
    ai.answer = answer("REVIEW", [("BAGEL-PLAIN", 1, 0.55)])
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    )
    assert ai.requests[-1]["body"]["tray_id"] == session_uuid  # the AI keeps the tray's frames
    items = [{"sku": "BAGEL-SESAME", "count": 1}]
    client.post(
        f"/api/v1/reviews/{r.json()['review']['id']}/resolve",
        json={"reviewer": "kim", "items": items},
    )
    feedback = [req for req in ai.requests if req["path"] == "/v1/feedback"]
    assert [f["body"] for f in feedback] == [
        {"tray_id": session_uuid, "items": items, "store_id": str(store["id"])}
    ]


def test_a_resolution_stands_when_the_ai_cannot_learn(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.answer = answer("REVIEW", [("SCONE", 1, 0.55)])
    review = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    ).json()["review"]
    ai.behaviour = "close"  # the AI hangs up on the feedback call
    r = client.post(
        f"/api/v1/reviews/{review['id']}/resolve",
        json={"reviewer": "kim", "items": [{"sku": "SCONE", "count": 1}]},
    )
    assert r.status_code == 200 and r.json()["session_status"] == "PAYABLE"
    assert client.post(f"/api/v1/tray-sessions/{session_uuid}/checkout", json={}).status_code == 201
