"""A failed or pending payment is paid again on the same bill; staff void a bill with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.central.conftest import count_rows
from tests.support.ai_standin import tiny_png


def _billed(client: TestClient, session_uuid: str, payment_status: str) -> dict[str, Any]:
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    )
    assert r.status_code == 201 and r.json()["payable"], r.text
    r = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/checkout",
        json={"payment_status": payment_status, "payment_reference": "card-1"},
    )
    assert r.status_code == 201, r.text
    return r.json()["bill"]


def _retry(client: TestClient, session_uuid: str, key: str, **body: Any) -> Any:
    return client.post(
        f"/api/v1/tray-sessions/{session_uuid}/payment-attempts",
        json=body,
        headers={"Idempotency-Key": key},
    )


@pytest.mark.parametrize("first", ["FAILED", "PENDING"])
def test_a_failed_or_pending_bill_is_paid_on_retry(
    client: TestClient, session_uuid: str, first: str
) -> None:
    bill = _billed(client, session_uuid, first)
    again = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/checkout", json={"payment_status": "PAID"}
    )
    assert again.status_code == 409  # checkout never makes a second bill
    r = _retry(client, session_uuid, "pay-2", payment_status="PAID", payment_reference="card-2")
    assert r.status_code == 201, r.text
    paid = r.json()["bill"]
    assert paid["id"] == bill["id"] and paid["total_krw"] == bill["total_krw"]
    assert paid["payment_status"] == "PAID" and paid["payment_reference"] == "card-2"
    assert [(h["kind"], h["from_status"], h["payment_status"]) for h in paid["history"]] == [
        ("RETRY", first, "PAID")
    ]
    shown = client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["bill"]
    assert shown == paid


def test_a_retried_request_pays_once(client: TestClient, session_uuid: str) -> None:
    _billed(client, session_uuid, "FAILED")
    first = _retry(client, session_uuid, "pay-once", payment_status="PAID")
    replay = _retry(client, session_uuid, "pay-once", payment_status="PAID")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert len(replay.json()["bill"]["history"]) == 1
    other_key = _retry(client, session_uuid, "pay-twice", payment_status="PAID")
    assert other_key.status_code == 409 and other_key.json()["error"] == "already_paid"


def test_a_paid_bill_is_not_paid_again(client: TestClient, session_uuid: str) -> None:
    _billed(client, session_uuid, "PAID")
    r = _retry(client, session_uuid, "k1", payment_status="PAID")
    assert r.status_code == 409 and r.json()["error"] == "already_paid"
    assert client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["bill"]["history"] == []


def test_a_failed_retry_can_be_retried(client: TestClient, session_uuid: str) -> None:
    _billed(client, session_uuid, "PENDING")
    assert _retry(client, session_uuid, "a", payment_status="FAILED").status_code == 201
    r = _retry(client, session_uuid, "b", payment_status="PAID")
    assert [h["payment_status"] for h in r.json()["bill"]["history"]] == ["FAILED", "PAID"]


def test_staff_void_a_bill_with_a_reason(
    make_client, client: TestClient, session_uuid: str
) -> None:
    staffed = make_client(STAFF_KEY="staff-key-for-tests")
    _billed(client, session_uuid, "FAILED")
    as_staff = {"X-ADMIN-KEY": "", "X-STAFF-KEY": "staff-key-for-tests"}
    no_reason = staffed.post(
        f"/api/v1/tray-sessions/{session_uuid}/void", json={"voided_by": "kim"}, headers=as_staff
    )
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    r = staffed.post(
        f"/api/v1/tray-sessions/{session_uuid}/void",
        json={"reason": "customer left without paying", "voided_by": "kim"},
        headers=as_staff,
    )
    assert r.status_code == 201, r.text
    bill = r.json()["bill"]
    assert bill["payment_status"] == "VOIDED"
    assert bill["history"][0]["reason"] == "customer left without paying"
    assert bill["history"][0]["actor"] == "kim (staff)"
    # a voided bill is closed: never paid, never voided twice; staff cannot take payments
    assert _retry(client, session_uuid, "late", payment_status="PAID").json()["error"] == (
        "bill_voided"
    )
    staff_pay = staffed.post(
        f"/api/v1/tray-sessions/{session_uuid}/payment-attempts",
        json={"payment_status": "PAID"},
        headers=as_staff,
    )
    assert staff_pay.status_code == 403
    twice = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/void", json={"reason": "again", "voided_by": "lee"}
    )
    assert twice.status_code == 409 and twice.json()["error"] == "bill_voided"


def test_nothing_to_retry_or_void_before_checkout(client: TestClient, session_uuid: str) -> None:
    before = count_rows(client, "payment_attempts")
    r = _retry(client, session_uuid, "early", payment_status="PAID")
    assert r.status_code == 409 and r.json()["error"] == "not_billed"
    bad = _retry(client, session_uuid, "bad", payment_status="MAYBE")
    assert bad.status_code == 422 and "PAID" in bad.json()["message"]
    assert count_rows(client, "payment_attempts") == before
