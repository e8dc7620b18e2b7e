"""Central and the AI service read settings, check keys and answer errors the same way."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

import ai.app
import ai.settings
import central.app
import central.settings
from central.ai_client import AIClient
from servicekit.server import guarded_protocol
from servicekit.settings import SettingsError
from tests.ai import images

ROOT = Path(__file__).resolve().parents[2]
SPELLINGS = [
    ("1", True),
    ("0", False),
    ("true", True),
    ("FALSE", False),
    ("Yes", True),
    ("no", False),
    ("ON", True),
    ("off", False),
    (" on ", True),
]


def central_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "ADMIN_KEY": "central-admin-key",
        "AI_ADMIN_KEY": "shared-ai-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'central.db'}",
        "CREATE_TABLES": "1",
        "TRAY_ARCHIVE": str(tmp_path / "trays"),
        **extra,
    }


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app on a real uvicorn server (the services' protocol) on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # As the services run it: no log config of uvicorn's (its loggers reach the root's handler).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=guarded_protocol(64 * 1024),
        access_log=False,
        log_config=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def wait_ready(url: str, key: str) -> None:
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/ready", headers={"X-ADMIN-KEY": key}).status_code != 200:
        assert time.monotonic() < deadline, "the AI service never became ready"
        time.sleep(0.02)


@pytest.mark.parametrize(("spelling", "meaning"), SPELLINGS)
def test_flag_spellings_agree_across_both_services(
    tmp_path: Path, spelling: str, meaning: bool
) -> None:
    central_settings = central.settings.load_settings(central_env(tmp_path, CREATE_TABLES=spelling))
    ai_settings = ai.settings.load_settings({"AI_ADMIN_KEY": "k", "AI_MOCK_MODE": spelling})
    assert central_settings.create_tables is meaning
    assert ai_settings.mock_mode is meaning


def test_a_flag_neither_service_knows_is_refused_in_the_same_words(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as at_central:
        central.settings.load_settings(central_env(tmp_path, CREATE_TABLES="enabled"))
    with pytest.raises(SettingsError) as at_ai:
        ai.settings.load_settings({"AI_ADMIN_KEY": "k", "AI_MOCK_MODE": "enabled"})
    rule = "must be a flag: 1/0, true/false, yes/no or on/off (got 'enabled')"
    assert str(at_central.value) == f"settings: CREATE_TABLES {rule}"
    assert str(at_ai.value) == f"settings: AI_MOCK_MODE {rule}"


def test_a_trailing_space_in_a_key_works_in_both_services(tmp_path: Path) -> None:
    # Both env files were written with a stray space or tab after the shared key.
    ai_settings = ai.settings.load_settings({"AI_ADMIN_KEY": "shared-ai-key ", "AI_MOCK_MODE": "1"})
    central_settings = central.settings.load_settings(
        central_env(tmp_path, ADMIN_KEY="central-admin-key\t", AI_ADMIN_KEY="shared-ai-key  ")
    )

    with served(ai.app.create_app(ai_settings)) as ai_url:
        wait_ready(ai_url, "shared-ai-key")

        async def ask() -> dict[str, Any]:
            async with AIClient(ai_url, str(central_settings.ai_admin_key)) as client:
                return await client.infer([images.b64(images.png())], ["SCONE", "CROISSANT"])

        answer = asyncio.run(ask())
    assert answer["decision"] in ("AUTO", "REVIEW", "UNKNOWN")

    with TestClient(central.app.create_app(central_settings)) as client:
        stores = client.get("/api/v1/stores", headers={"X-ADMIN-KEY": "central-admin-key"})
    assert stores.status_code == 200


def test_both_services_take_the_key_as_a_bearer_token(tmp_path: Path) -> None:
    ai_settings = ai.settings.load_settings({"AI_ADMIN_KEY": "shared-ai-key", "AI_MOCK_MODE": "1"})
    with TestClient(ai.app.create_app(ai_settings)) as client:
        assert client.get("/ready", headers={"Authorization": "Bearer shared-ai-key"}).status_code
        assert client.get("/ready", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert (
            client.get("/ready", headers={"Authorization": "Basic shared-ai-key"}).status_code
            == 401
        )
    central_settings = central.settings.load_settings(central_env(tmp_path))
    with TestClient(central.app.create_app(central_settings)) as client:
        ok = client.get("/api/v1/stores", headers={"Authorization": "Bearer central-admin-key"})
        refused = client.get("/api/v1/stores", headers={"Authorization": "Bearer shared-ai-key"})
    assert ok.status_code == 200
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"


def test_both_services_answer_unknown_routes_and_methods_in_one_error_shape(
    tmp_path: Path,
) -> None:
    ai_settings = ai.settings.load_settings({"AI_ADMIN_KEY": "shared-ai-key", "AI_MOCK_MODE": "1"})
    central_settings = central.settings.load_settings(central_env(tmp_path))
    answers = {}
    with TestClient(ai.app.create_app(ai_settings)) as client:
        key = {"X-ADMIN-KEY": "shared-ai-key"}
        answers["ai"] = (
            client.get("/v1/nothing", headers=key),
            client.put("/v1/infer", headers=key),
        )
    with TestClient(central.app.create_app(central_settings)) as client:
        key = {"X-ADMIN-KEY": "central-admin-key"}
        answers["central"] = (
            client.get("/api/v1/nothing", headers=key),
            client.put("/api/v1/stores", headers=key),
        )
    for service, (missing, wrong_method) in answers.items():
        assert missing.status_code == 404, service
        assert set(missing.json()) == {"error", "message", "path"}, service
        assert missing.json()["error"] == "not_found"
        assert wrong_method.status_code == 405, service
        assert wrong_method.json()["error"] == "method_not_allowed"
        assert "POST" in wrong_method.headers["allow"], service


def test_every_settings_problem_is_one_line_from_both_clis() -> None:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AI_") and k not in {"ADMIN_KEY", "DATABASE_URL", "PORT"}
    }
    central_run = subprocess.run(
        [sys.executable, "-m", "central", "serve"],
        cwd=ROOT,
        env={**clean, "ADMIN_KEY": "sk-7chr", "PORT": "http", "MAX_HEADER_BYTES": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    ai_run = subprocess.run(
        [sys.executable, "-m", "ai", "serve"],
        cwd=ROOT,
        env={**clean, "AI_MAX_FRAMES": "x", "AI_UPLOAD_READ_TIMEOUT_SECONDS": "-2"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (central_run.returncode, ai_run.returncode) == (2, 2)
    assert central_run.stderr.splitlines() == [
        "settings: ADMIN_KEY must be at least 8 characters; AI_ADMIN_KEY is required; "
        "PORT must be an integer 1..65535 (got 'http'); "
        "MAX_HEADER_BYTES must be an integer 1024..1048576 (got 'lots')"
    ]
    assert ai_run.stderr.splitlines() == [
        "settings: AI_ADMIN_KEY is required; AI_MAX_FRAMES must be an integer 1..16 (got 'x'); "
        "AI_UPLOAD_READ_TIMEOUT_SECONDS must be a number > 0 (got '-2')"
    ]
    for run in (central_run, ai_run):
        assert "Traceback" not in run.stdout + run.stderr
    assert "sk-7chr" not in central_run.stderr  # a key is never quoted back


def stalled_post(app: Any, path: str, key: str) -> tuple[int, dict[str, Any]]:
    """POST a body that stops arriving after its first bytes; the app's answer."""
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        first = True

        async def receive() -> dict[str, Any]:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b'{"frames_b64": [', "more_body": True}
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"x-admin-key", key.encode()), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await asyncio.wait_for(app(scope, receive, send), timeout=10)

    asyncio.run(run())
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


def test_each_services_upload_limits_come_from_its_settings(tmp_path: Path) -> None:
    ai_settings = ai.settings.load_settings(
        {
            "AI_ADMIN_KEY": "shared-ai-key",
            "AI_MOCK_MODE": "1",
            "AI_UPLOAD_READ_TIMEOUT_SECONDS": "0.1",
        }
    )
    central_settings = central.settings.load_settings(
        central_env(tmp_path, UPLOAD_READ_TIMEOUT_SECONDS="0.1")
    )
    ai_status, ai_body = stalled_post(ai.app.create_app(ai_settings), "/v1/infer", "shared-ai-key")
    central_status, central_body = stalled_post(
        central.app.create_app(central_settings), "/api/v1/tray-sessions", "central-admin-key"
    )
    assert (ai_status, ai_body["error"], ai_body["max"]) == (408, "request_timeout", 0.1)
    assert ai_body["limit"] == "AI_UPLOAD_READ_TIMEOUT_SECONDS"
    assert (central_status, central_body["error"], central_body["max"]) == (
        408,
        "request_timeout",
        0.1,
    )


def test_the_staff_key_may_come_as_a_bearer_token_and_keeps_its_limits(tmp_path: Path) -> None:
    settings = central.settings.load_settings(central_env(tmp_path, STAFF_KEY="staff-key-1234"))
    bearer = {"Authorization": "Bearer staff-key-1234"}
    with TestClient(central.app.create_app(settings)) as client:
        assert client.get("/api/v1/stores", headers=bearer).status_code == 200
        refused = client.post("/api/v1/stores", headers=bearer, json={"code": "S", "name": "s"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden" and refused.json()["role"] == "staff"
