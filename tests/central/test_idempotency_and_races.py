"""Retries with an Idempotency-Key create nothing twice; racing requests get one winner."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.testclient import TestClient

from central.db import Database
from central.idempotency import lease_for
from central.tables import idempotency_keys
from testkit.ai_standin import AiStandIn, answer, tiny_jpeg_b64, tiny_png
from tests.central.conftest import count_rows


def _runs(client: TestClient, session_uuid: str) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["runs"]


def test_infer_retry_with_the_same_key_returns_the_first_answer(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    body = {"frames_b64": [tiny_png()]}
    headers = {"Idempotency-Key": "infer-1"}
    first = client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json=body, headers=headers)
    ai.answer = answer("REVIEW", [("SCONE", 9, 0.3)])  # a second real call would answer differently
    retry = client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(ai.requests) == 1 and len(_runs(client, session_uuid)) == 1


def test_same_key_different_body_is_422_and_changes_nothing(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    headers = {"Idempotency-Key": "infer-2"}
    client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer",
        json={"frames_b64": [tiny_png()]},
        headers=headers,
    )
    other = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer",
        json={"frames_b64": [tiny_jpeg_b64(7)]},
        headers=headers,
    )
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert len(_runs(client, session_uuid)) == 1


def test_retry_while_the_first_still_runs_is_409(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.release.clear()  # the AI holds the first request until released
    url = f"/api/v1/tray-sessions/{session_uuid}/infer"
    body, headers = {"frames_b64": [tiny_png()]}, {"Idempotency-Key": "infer-3"}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, url, json=body, headers=headers)
        assert ai.entered.wait(10)
        retry = client.post(url, json=body, headers=headers)
        ai.release.set()
        assert first.result().status_code == 201
    assert retry.status_code == 409 and retry.json()["error"] == "idempotency_key_in_use"
    assert len(ai.requests) == 1


def test_checkout_and_resolve_retries_create_one_bill(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.answer = answer("REVIEW", [("SCONE", 1, 0.5)])
    review = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    ).json()["review"]
    resolve = {"reviewer": "lee", "items": [{"sku": "SCONE", "count": 2}]}
    r1 = client.post(
        f"/api/v1/reviews/{review['id']}/resolve", json=resolve, headers={"Idempotency-Key": "r"}
    )
    r2 = client.post(
        f"/api/v1/reviews/{review['id']}/resolve", json=resolve, headers={"Idempotency-Key": "r"}
    )
    assert r1.status_code == r2.status_code == 200 and r1.json() == r2.json()
    pay = {"payment_status": "PAID", "payment_reference": "pg-77"}
    c1 = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/checkout", json=pay, headers={"Idempotency-Key": "c"}
    )
    c2 = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/checkout", json=pay, headers={"Idempotency-Key": "c"}
    )
    assert c1.status_code == c2.status_code == 201 and c1.json() == c2.json()
    assert c1.json()["bill"]["total_krw"] == 2 * 3300


def test_a_rejected_request_does_not_burn_its_key(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    url, headers = f"/api/v1/tray-sessions/{session_uuid}/checkout", {"Idempotency-Key": "early"}
    assert client.post(url, json={}, headers=headers).status_code == 409  # not payable yet
    ai.answer = answer("AUTO", [("SCONE", 1, 0.99)])
    client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]})
    assert client.post(url, json={}, headers=headers).status_code == 201


def test_two_infers_racing_on_one_session(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.release.clear()
    url = f"/api/v1/tray-sessions/{session_uuid}/infer"
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, url, json={"frames_b64": [tiny_png()]})
        assert ai.entered.wait(10)
        second = client.post(url, json={"frames_b64": [tiny_jpeg_b64(2)]})
        ai.release.set()
        assert first.result().status_code == 201
    assert second.status_code == 409 and second.json()["error"] == "inference_in_progress"
    assert len(_runs(client, session_uuid)) == 1 and len(ai.requests) == 1
    assert client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["status"] == "PAYABLE"


def test_many_simultaneous_infers_store_exactly_one_run(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.behaviour, ai.delay_s = "slow", 0.3
    url = f"/api/v1/tray-sessions/{session_uuid}/infer"
    start = threading.Barrier(6)

    def go(i: int) -> int:
        start.wait()
        return client.post(url, json={"frames_b64": [tiny_jpeg_b64(i)]}).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(go, range(6)))
    assert codes.count(201) >= 1 and set(codes) <= {201, 409}
    assert len(_runs(client, session_uuid)) == codes.count(201)


def test_racing_checkouts_make_one_bill(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.answer = answer("AUTO", [("CROISSANT", 1, 0.99)])
    run = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    ).json()["run"]
    assert run["decision"] == "AUTO", (run["reason"], run["ai_status"], run["ai_error"])
    bills_before = count_rows(client, "bills")
    start = threading.Barrier(4)

    def go(_: int) -> int:
        start.wait()
        return client.post(
            f"/api/v1/tray-sessions/{session_uuid}/checkout", json={"payment_status": "PAID"}
        ).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(go, range(4)))
    assert codes == [201, 409, 409, 409]
    assert count_rows(client, "bills") == bills_before + 1


def test_a_key_abandoned_by_a_crashed_instance_can_be_retried(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    """An instance that died mid-request left its key IN_PROGRESS; after a while a retry runs."""

    url = f"/api/v1/tray-sessions/{session_uuid}/infer"
    body = {"frames_b64": [tiny_png()]}
    headers = {"Idempotency-Key": "crashed-1"}

    async def leave_key(age: dt.timedelta) -> None:
        database = Database(client.app.state.settings.database)  # type: ignore[attr-defined]
        try:
            raw = client.build_request("POST", url, json=body).content
            when = dt.datetime.now(dt.UTC).replace(tzinfo=None) - age
            await database.execute(
                idempotency_keys.delete().where(idempotency_keys.c.idem_key == "crashed-1")
            )
            await database.execute(
                idempotency_keys.insert().values(
                    scope=f"POST {url}",
                    idem_key="crashed-1",
                    request_hash=hashlib.sha256(raw).hexdigest(),
                    state="IN_PROGRESS",
                    owner_token="dead-instance",
                    created_at=when,
                    updated_at=when,
                )
            )
        finally:
            await database.dispose()

    lease = lease_for(client.app.state.settings)  # type: ignore[attr-defined]
    asyncio.run(leave_key(dt.timedelta(seconds=1)))  # still plausibly running: refused
    refused = client.post(url, json=body, headers=headers)
    assert refused.status_code == 409 and int(refused.headers["Retry-After"]) >= 1
    asyncio.run(leave_key(lease + dt.timedelta(seconds=1)))  # its lease ran out: taken over
    retry = client.post(url, json=body, headers=headers)
    assert retry.status_code == 201 and len(ai.requests) == 1
    replay = client.post(url, json=body, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == retry.json()
