"""The AI service logs JSON lines like Central: no key from a query string, no 500 for a leaver."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ai.app import create_app
from ai.mock import MockRecognizer
from ai.settings import load_settings
from tests.ai import images
from tests.ai.conftest import KEY, SKUS
from tests.servicekit.test_both_services import served, wait_ready

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-live-in-a-query-string"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_key_in_a_query_string_never_reaches_the_served_log(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_")}
    env.update(AI_ADMIN_KEY=KEY, AI_MOCK_MODE="1", AI_HOST="127.0.0.1", AI_PORT=str(port))
    out = (tmp_path / "stdout").open("w+")
    err = (tmp_path / "stderr").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "ai", "serve"], cwd=ROOT, env=env, stdout=out, stderr=err
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                wait_ready(url, KEY)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "python -m ai serve did not start"
                time.sleep(0.1)
        assert httpx.get(f"{url}/ready?key={SECRET}", headers={"X-ADMIN-KEY": KEY}).is_success
        assert httpx.get(f"{url}/v1/nothing?AI_ADMIN_KEY={SECRET}").status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()

    assert SECRET not in stdout + stderr
    entries = [json.loads(line) for line in stdout.splitlines()]  # every line is one JSON object
    access = [e for e in entries if e["logger"] == "ai.access"]
    assert {"/ready", "/v1/nothing"} <= {e["httpRequest"]["requestUrl"] for e in access}
    refused = next(e for e in access if e["httpRequest"]["requestUrl"] == "/v1/nothing")
    assert refused["severity"] == "WARNING" and refused["httpRequest"]["status"] == 401
    assert all(len(e["request_id"]) == 32 for e in access)


class _SlowMock(MockRecognizer):
    """The mock, taking long enough for the client to give up while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = threading.Event()

    def inference(self, order):
        time.sleep(0.4)
        try:
            return super().inference(order)
        finally:
            self.finished.set()


def test_a_client_that_leaves_during_inference_is_one_info_line_on_a_real_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recognizer = _SlowMock()
    app = create_app(load_settings({"AI_ADMIN_KEY": KEY, "AI_MOCK_MODE": "1"}), recognizer)
    body = json.dumps({"frames_b64": [images.b64(images.png())], "candidate_skus": SKUS}).encode()
    caplog.set_level(logging.INFO)
    with served(app) as url:
        wait_ready(url, KEY)
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(
                b"POST /v1/infer HTTP/1.1\r\nhost: ai\r\ncontent-type: application/json\r\n"
                + f"x-admin-key: {KEY}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            time.sleep(0.1)  # the body is in and the model runs; the client gives up
        assert recognizer.finished.wait(5)
        deadline = time.monotonic() + 5
        while not any(
            r.name == "ai.access" and "/v1/infer" in r.getMessage() for r in caplog.records
        ):
            assert time.monotonic() < deadline, "no access line for the abandoned request"
            time.sleep(0.02)
        metrics = httpx.get(f"{url}/metrics").text

    [line] = [r for r in caplog.records if r.name == "ai.access" and "/v1/infer" in r.getMessage()]
    assert line.levelno == logging.INFO and line.exc_info is None
    assert line.httpRequest["status"] == 499  # type: ignore[attr-defined]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert 'ai_http_requests_total{method="POST",route="/v1/infer",status="499"} 1.0' in metrics
    assert 'route="/v1/infer",status="500"' not in metrics
