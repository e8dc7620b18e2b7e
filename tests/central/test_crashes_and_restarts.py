"""Central keeps its promises when it crashes mid-request and when its database restarts under load.

Real processes on loopback: Central (`python -m central serve`), the AI stand-in, and for the
restarts a private mariadbd/mysqld that is SIGKILLed and started again, ten times, while counters
run trays through it and retry with their Idempotency-Keys as a real counter would.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from central.idempotency import LEASE_MARGIN_S
from testkit.ai_standin import AiStandIn, tiny_jpeg_b64
from testkit.mysql import ThrowawayServer, find_binary
from tests.support.central_process import CentralProcess

ADMIN_KEY = "central-admin-key-for-tests"
AI_TIMEOUT_S = 1.5
LEASE_S = AI_TIMEOUT_S + LEASE_MARGIN_S
PRICES = {"BAGEL-PLAIN": 3200, "BAGEL-SESAME": 3500, "CROISSANT": 3800, "SCONE": 3300}


def _env(database_url: str, ai: AiStandIn) -> dict[str, str]:
    return {
        "ADMIN_KEY": ADMIN_KEY,
        "AI_ADMIN_KEY": "ai-admin-key-for-tests",
        "DATABASE_URL": database_url,
        "AI_BASE_URL": ai.url,
        "AI_TIMEOUT_SECONDS": str(AI_TIMEOUT_S),
        "AI_CONNECT_TIMEOUT_SECONDS": "0.5",
        "CREATE_TABLES": "1",
    }


def _http(central: CentralProcess) -> httpx.Client:
    return httpx.Client(base_url=central.url, headers={"X-ADMIN-KEY": ADMIN_KEY}, timeout=15)


def _store(http: httpx.Client) -> int:
    store = http.post("/api/v1/stores", json={"code": f"S-{time.time_ns()}", "name": "t"}).json()
    for sku, price in PRICES.items():
        made = http.post(
            f"/api/v1/stores/{store['id']}/products",
            json={"sku": sku, "name": sku, "unit_price_krw": price},
        )
        assert made.status_code == 201, made.text
    return int(store["id"])


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path


def test_a_retry_after_central_crashed_mid_infer_runs_it_within_seconds(
    database_url: str, ai: AiStandIn, logs: Path
) -> None:
    first = CentralProcess(_env(database_url, ai), logs).start()
    try:
        with _http(first) as http:
            store_id = _store(http)
            session = http.post(
                "/api/v1/tray-sessions", json={"store_id": store_id, "counter_id": "c"}
            ).json()["uuid"]
        url = f"/api/v1/tray-sessions/{session}/infer"
        body, key = {"frames_b64": [tiny_jpeg_b64(3)]}, {"Idempotency-Key": "crash-1"}
        ai.release.clear()  # the AI holds the call, so Central dies while waiting for it

        def doomed() -> None:
            with contextlib.suppress(httpx.HTTPError), _http(first) as http:
                http.post(url, json=body, headers=key)

        call = threading.Thread(target=doomed)
        call.start()
        assert ai.entered.wait(10)
        first.kill()
        crashed_at = time.monotonic()
        ai.release.set()
        call.join(10)
    finally:
        first.kill()
    second = CentralProcess(_env(database_url, ai), logs).start()
    restarted_at = time.monotonic()
    try:
        with _http(second) as http:
            while True:
                retry = http.post(url, json=body, headers=key)
                if retry.status_code != 409:
                    break
                assert retry.json()["error"] == "idempotency_key_in_use"
                assert int(retry.headers["Retry-After"]) >= 1
                assert time.monotonic() - crashed_at < LEASE_S + 2, "the key stayed stuck"
                time.sleep(0.2)
            # Once the dead request's lease ran out, the retry ran at once.
            lease_end = max(crashed_at + LEASE_S, restarted_at)
            assert retry.status_code == 201, retry.text
            assert time.monotonic() - lease_end < 2
            assert retry.json()["run"]["decision"] == "AUTO" and retry.json()["payable"]
            replay = http.post(url, json=body, headers=key)
            assert replay.headers["Idempotent-Replayed"] == "true"
            assert replay.json() == retry.json()
            shown = http.get(f"/api/v1/tray-sessions/{session}").json()
        assert shown["status"] == "PAYABLE"
        assert len(ai.requests) == 2  # the lost call and the retry's; never one more
    finally:
        second.stop()


# ---- the database restarts under load ----------------------------------------------------

RESTARTS = 10
COUNTERS = 10
UP_BETWEEN_S = 1.0
STEP_DEADLINE_S = 30.0
# A retry may be told to come back later while a dead request's hold runs out.
BUSY = {"idempotency_key_in_use", "inference_in_progress"}


@dataclass
class Ledger:
    """What the counters were told, and how long a key or a claim refused their retries."""

    trays: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    outage_answers: int = 0
    longest_refusal_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _step(http: httpx.Client, ledger: Ledger, path: str, body: dict, key: str) -> dict:
    """POST with an Idempotency-Key, retried with the same key until it gives an answer."""
    deadline = time.monotonic() + STEP_DEADLINE_S
    refused_since: float | None = None
    while time.monotonic() < deadline:
        try:
            r = http.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        if 200 <= r.status_code < 300:
            return dict(r.json())
        if r.status_code == 503:
            refused_since = None  # while the database is away, nothing can be given back
            assert r.json()["error"] == "database_unavailable" and r.headers["Retry-After"]
            with ledger.lock:
                ledger.outage_answers += 1
        elif r.status_code == 409 and r.json()["error"] in BUSY:
            # The key (or the tray) is held by a request that died: how long it keeps refusing.
            assert int(r.headers["Retry-After"]) >= 1
            refused_since = refused_since or time.monotonic()
            with ledger.lock:
                waited = time.monotonic() - refused_since
                ledger.longest_refusal_s = max(ledger.longest_refusal_s, waited)
        else:
            raise AssertionError(f"{key}: {r.status_code} {r.text[:300]}")
        time.sleep(0.1)
    raise AssertionError(f"{key}: no answer within {STEP_DEADLINE_S} s")


def _counter(
    central: CentralProcess, store_id: int, number: int, ledger: Ledger, stop: threading.Event
) -> None:
    with _http(central) as http:
        tray = 0
        while not stop.is_set():
            tray += 1
            key = f"c{number}-t{tray}"
            try:
                opened = _step(
                    http,
                    ledger,
                    "/api/v1/tray-sessions",
                    {"store_id": store_id, "counter_id": f"c{number}"},
                    f"{key}-open",
                )
                path = f"/api/v1/tray-sessions/{opened['uuid']}"
                frames = {"frames_b64": [tiny_jpeg_b64(number * 1000 + tray)]}
                seen = _step(http, ledger, f"{path}/infer", frames, f"{key}-scan")
                if tray % 3 == 0:  # a rescan replaces the first scan
                    frames = {"frames_b64": [tiny_jpeg_b64(number * 1000 + tray + 500)]}
                    seen = _step(http, ledger, f"{path}/infer", frames, f"{key}-rescan")
                run = seen["run"]
                assert seen["payable"], [run[k] for k in ("reason", "ai_status", "ai_error")]
                paid = _step(http, ledger, f"{path}/checkout", {"payment_status": "PAID"}, key)
                expected = sum(PRICES[i["sku"]] * i["count"] for i in seen["run"]["items"])
                with ledger.lock:
                    ledger.trays.append(
                        {"uuid": opened["uuid"], "bill": paid["bill"], "expected": expected}
                    )
            except AssertionError as failure:
                with ledger.lock:
                    ledger.failures.append(str(failure))


@pytest.fixture
def restartable_db() -> Iterator[ThrowawayServer]:
    binary = find_binary()
    if binary is None:
        pytest.skip("restarting a database needs mariadbd or mysqld on this machine")
    server = ThrowawayServer(binary)
    try:
        server.initialize()
        yield server
    finally:
        server.close()


def test_ten_database_restarts_under_load_lose_nothing_and_leave_central_whole(
    restartable_db: ThrowawayServer, ai: AiStandIn, logs: Path
) -> None:
    db = restartable_db.server
    database_url = db.url(db.create_database("restarts"))
    central = CentralProcess(_env(database_url, ai), logs).start()
    ledger, stop = Ledger(), threading.Event()
    try:
        with _http(central) as http:
            store_id = _store(http)
        counters = [
            threading.Thread(target=_counter, args=(central, store_id, n, ledger, stop))
            for n in range(COUNTERS)
        ]
        for thread in counters:
            thread.start()
        for _ in range(RESTARTS):
            time.sleep(UP_BETWEEN_S)
            restartable_db.kill()
            time.sleep(0.3)
            restartable_db.start()
        time.sleep(UP_BETWEEN_S)
        stop.set()
        for thread in counters:
            thread.join(STEP_DEADLINE_S * 4)
        assert not ledger.failures, ledger.failures[:5]
        assert ledger.outage_answers > 0, "the restarts never reached a request"
        assert len(ledger.trays) >= COUNTERS
        # No key or claim refused a retry for much longer than its lease.
        assert ledger.longest_refusal_s < LEASE_S + 1

        # The pool is whole after the 10th restart: many requests at once all get answers.
        with _http(central) as http:
            assert http.get("/ready").status_code == 200
            results: list[int] = []

            def get_stores() -> None:
                with _http(central) as h:
                    results.append(h.get("/api/v1/stores").status_code)

            burst = [threading.Thread(target=get_stores) for _ in range(40)]
            for thread in burst:
                thread.start()
            for thread in burst:
                thread.join(20)
            assert results == [200] * 40

        # Give abandoned claims their lease and the sweeper a round, then read the database.
        time.sleep(LEASE_S + 1.5)
        with db.connect(database_url.rsplit("/", 1)[1]) as conn, conn.cursor() as cur:
            for tray in ledger.trays:  # every acknowledged bill is there, as acknowledged
                cur.execute(
                    "SELECT b.id, b.total_krw FROM bills b JOIN tray_sessions s"
                    " ON s.id = b.session_id WHERE s.uuid = %s",
                    (tray["uuid"],),
                )
                assert cur.fetchall() == ((tray["bill"]["id"], tray["expected"]),), tray
            cur.execute("SELECT COUNT(*) FROM tray_sessions WHERE status = 'INFERRING'")
            assert cur.fetchone()[0] == 0, "a tray stayed INFERRING"
            # Nothing payable or billed without a clean AUTO run or a resolved review.
            cur.execute(
                """
                SELECT s.uuid FROM tray_sessions s
                JOIN recognition_runs r ON r.id = (
                    SELECT MAX(id) FROM recognition_runs WHERE session_id = s.id)
                LEFT JOIN reviews v ON v.run_id = r.id
                WHERE s.status IN ('PAYABLE', 'CHECKED_OUT')
                  AND NOT ((v.id IS NULL AND r.decision = 'AUTO' AND r.ai_status = 'OK')
                           OR v.status = 'RESOLVED')
                """
            )
            assert cur.fetchall() == ()
            cur.execute(
                "SELECT COUNT(*) FROM tray_sessions s LEFT JOIN recognition_runs r"
                " ON r.session_id = s.id WHERE s.status IN ('PAYABLE', 'CHECKED_OUT')"
                " AND r.id IS NULL"
            )
            assert cur.fetchone()[0] == 0
    finally:
        stop.set()
        central.stop()
