"""A database that is away makes Central say 503 and when to retry — fast, never a 500 or a hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from central.app import create_app
from central.settings import load_settings
from testkit.ai_standin import AiStandIn
from tests.central.conftest import ADMIN_KEY, _env


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port nobody listens on: connections are refused at once, as while MySQL restarts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word: a hung or unreachable database."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


def _client(port: int, ai: AiStandIn) -> TestClient:
    url = f"mysql+pymysql://u:p@127.0.0.1:{port}/gone"
    client = TestClient(create_app(load_settings(_env(url, ai.url))), raise_server_exceptions=False)
    client.headers["X-ADMIN-KEY"] = ADMIN_KEY
    return client


def test_ready_answers_503_within_a_second_when_the_database_hangs(
    silent_port: int, ai: AiStandIn
) -> None:
    with _client(silent_port, ai) as client:
        for _ in range(3):  # also while an earlier probe is still waiting on the database
            started = time.monotonic()
            r = client.get("/ready")
            assert time.monotonic() - started < 1.0  # READY_WITHIN_S plus the test client
            assert r.status_code == 503 and r.json()["ready"] is False
            assert r.headers["Retry-After"]
        assert client.get("/health").status_code == 200  # liveness never asks the database


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/stores", None),
        ("POST", "/api/v1/stores", {"code": "S1", "name": "a"}),
        ("POST", "/api/v1/tray-sessions", {"store_id": 1, "counter_id": "c"}),
        ("GET", "/api/v1/reviews", None),
    ],
)
def test_api_calls_answer_503_json_with_retry_after_when_the_database_is_down(
    refusing_port: int, ai: AiStandIn, method: str, path: str, body: dict | None
) -> None:
    with _client(refusing_port, ai) as client:
        r = client.request(method, path, json=body, headers={"Idempotency-Key": "k-1"})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "database_unavailable"
    assert int(r.headers["Retry-After"]) >= 1
    assert "Traceback" not in r.text
