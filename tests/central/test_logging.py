"""One JSON line per request in Cloud Logging's shape; keys, passwords and frames never logged."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.testclient import TestClient

from servicekit.logs import CloudLoggingFormatter
from testkit.ai_standin import AiStandIn, tiny_png
from tests.central.conftest import ADMIN_KEY


@pytest.fixture
def json_lines(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    formatter = CloudLoggingFormatter()

    def lines() -> list[dict]:
        return [json.loads(formatter.format(record)) for record in caplog.records]

    return lines


def test_one_access_line_per_request(make_client, json_lines) -> None:
    client = make_client(GOOGLE_CLOUD_PROJECT="bakesight-demo")
    r = client.get(
        "/api/v1/stores",
        headers={
            "X-Request-ID": "req-abc",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        },
    )
    access = [line for line in json_lines() if line["logger"] == "central.access"]
    assert len(access) == 1
    line = access[0]
    assert line["severity"] == "INFO" and line["message"] == "GET /api/v1/stores 200"
    assert line["request_id"] == "req-abc" == r.headers["x-request-id"]
    assert line["httpRequest"]["status"] == 200 and line["httpRequest"]["requestMethod"] == "GET"
    assert (
        line["logging.googleapis.com/trace"]
        == "projects/bakesight-demo/traces/0af7651916cd43dd8448eb211c80319c"
    )
    assert line["logging.googleapis.com/spanId"] == "b7ad6b7169203331"


def test_request_ids_are_generated_and_errors_warn(client: TestClient, json_lines) -> None:
    r = client.get("/api/v1/stores/123456789")
    assert len(r.headers["x-request-id"]) == 32
    [line] = [line for line in json_lines() if line["logger"] == "central.access"]
    assert line["severity"] == "WARNING" and line["httpRequest"]["status"] == 404


def test_secrets_and_frames_never_reach_the_log(
    client: TestClient, session_uuid: str, ai: AiStandIn, json_lines, mysql
) -> None:
    frame = tiny_png()
    ai.behaviour = "error500"  # the failure path logs the most
    client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [frame]})
    client.get("/api/v1/stores", headers={"X-ADMIN-KEY": "a-wrong-key-attempt"})
    text = "\n".join(json.dumps(line) for line in json_lines())
    assert "AI unavailable" in text  # the failure itself is logged...
    for secret in [
        ADMIN_KEY,
        "ai-admin-key-for-tests",
        frame,
        frame[:40],
        "a-wrong-key-attempt",
        mysql.password,
    ]:
        assert secret not in text  # ...but nothing secret
