"""Staff see the store's bills, newest first, with their lines and payment history, to retry a
failed payment (admin) or void a bill (staff)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from tests.support.ai_standin import AiStandIn, tiny_jpeg_b64

STAFF_KEY = "staff-key-for-bills"
AS_STAFF = {"X-ADMIN-KEY": "", "X-STAFF-KEY": STAFF_KEY}


def _bill(client: TestClient, store: dict[str, Any], payment_status: str, seed: int) -> str:
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "counter-1"}
    ).json()["uuid"]
    r = client.post(
        f"/api/v1/tray-sessions/{session}/infer", json={"frames_b64": [tiny_jpeg_b64(seed)]}
    )
    assert r.status_code == 201 and r.json()["payable"], r.text
    r = client.post(
        f"/api/v1/tray-sessions/{session}/checkout", json={"payment_status": payment_status}
    )
    assert r.status_code == 201, r.text
    return str(session)


def test_the_stores_bills_are_listed_newest_first_with_lines_and_history(
    make_client: Callable[..., TestClient], store: dict[str, Any], ai: AiStandIn
) -> None:
    with make_client(STAFF_KEY=STAFF_KEY) as client:
        paid = _bill(client, store, "PAID", 1)
        failed = _bill(client, store, "FAILED", 2)
        voided = client.post(
            f"/api/v1/tray-sessions/{paid}/void",
            json={"reason": "customer left", "voided_by": "kim"},
            headers=AS_STAFF,
        )
        assert voided.status_code == 201, voided.text

        r = client.get(f"/api/v1/stores/{store['id']}/bills", headers=AS_STAFF)

    assert r.status_code == 200, r.text
    bills = r.json()["bills"]
    assert [b["session"] for b in bills] == [failed, paid]
    assert [b["payment_status"] for b in bills] == ["FAILED", "VOIDED"]
    newest = bills[0]
    assert newest["counter_id"] == "counter-1" and newest["currency"] == "KRW"
    assert newest["total_krw"] == sum(line["line_total_krw"] for line in newest["lines"]) > 0
    assert {line["sku"] for line in newest["lines"]} <= {"BAGEL-PLAIN", "BAGEL-SESAME"}
    assert newest["history"] == [] and newest["created_at"].endswith("Z")
    (void,) = bills[1]["history"]
    assert (void["kind"], void["from_status"], void["payment_status"]) == ("VOID", "PAID", "VOIDED")
    assert void["reason"] == "customer left" and void["actor"] == "kim (staff)"


def test_bills_are_filtered_by_status_and_limited(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    sessions = [
        _bill(client, store, status, n)
        for n, status in enumerate(["PENDING", "PAID", "PENDING", "FAILED"])
    ]
    url = f"/api/v1/stores/{store['id']}/bills"

    pending = client.get(url, params={"status": "PENDING"}).json()["bills"]
    two = client.get(url, params={"limit": 2}).json()["bills"]

    assert [b["session"] for b in pending] == [sessions[2], sessions[0]]
    assert [b["session"] for b in two] == [sessions[3], sessions[2]]
    assert client.get(url, params={"status": "VOIDED"}).json() == {"bills": []}


def test_another_stores_bills_are_not_listed(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    _bill(client, store, "PAID", 1)
    other = client.post("/api/v1/stores", json={"code": f"O-{store['code']}", "name": "Other"})
    assert other.status_code == 201, other.text

    r = client.get(f"/api/v1/stores/{other.json()['id']}/bills")

    assert r.status_code == 200 and r.json() == {"bills": []}


def test_a_bad_bills_query_is_refused_naming_the_problem(
    client: TestClient, store: dict[str, Any]
) -> None:
    url = f"/api/v1/stores/{store['id']}/bills"
    cases: list[tuple[dict[str, str], str]] = [
        ({"status": "paid"}, "status"),
        ({"status": "OPEN"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ]
    for params, field in cases:
        r = client.get(url, params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["field"] == field
    assert "PAID, PENDING, FAILED, VOIDED" in client.get(url, params={"status": "x"}).text
    assert client.get("/api/v1/stores/999999/bills").status_code == 404
