from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import pytest
from starlette.testclient import TestClient

from ai.app import create_app
from ai.recognizer import Recognizer
from ai.settings import load_settings
from tests.ai import images

KEY = "test-ai-key"
AUTH = {"X-ADMIN-KEY": KEY}
SKUS = ["BAGEL-PLAIN", "BAGEL-SESAME", "CROISSANT", "CROISSANT-CHOCO", "MUFFIN-BLUEBERRY"]


def wait_ready(client: TestClient, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while client.get("/ready", headers=AUTH).status_code != 200:
        assert time.monotonic() < deadline, "the service never became ready"
        time.sleep(0.01)


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """A started mock-mode service; keyword arguments are extra environment variables."""
    clients: list[TestClient] = []

    def make(recognizer: Recognizer | None = None, ready: bool = True, **env: str) -> TestClient:
        settings = load_settings({"AI_ADMIN_KEY": KEY, "AI_MOCK_MODE": "1", **env})
        client = TestClient(create_app(settings, recognizer), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        if ready:
            wait_ready(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def infer(
    client: TestClient, frames: Sequence[bytes | str], skus: list[str] = SKUS, **extra: object
):
    body = {
        "frames_b64": [f if isinstance(f, str) else images.b64(f) for f in frames],
        "candidate_skus": skus,
        **extra,
    }
    return client.post("/v1/infer", json=body, headers=AUTH)
