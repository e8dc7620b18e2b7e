"""Both services on real servers, logging as they do in production (JSON lines on stdout).

One request's lines join across the two services (the same request id and trace); a crash is one
ERROR line with its request id and traceback; a GET whose client leaves is one INFO 499 line.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

import ai.app
import ai.settings
import central.app
import central.settings
from servicekit.errors import exception_handlers
from servicekit.logs import RequestLogMiddleware, configure_logging
from tests.ai import images
from tests.servicekit.test_both_services import central_env, served, wait_ready

T = TypeVar("T")
PROJECT = "bakesight-demo"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
CENTRAL_KEY = {"X-ADMIN-KEY": "central-admin-key"}
AI_KEY = "shared-ai-key"


class ServiceLog:
    """The lines the services write to stdout, as `python -m central|ai serve` configure it."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def __call__(self) -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in self.stream.getvalue().splitlines()]
        return [line for line in parsed if line["logger"] != "asyncio"]

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@pytest.fixture
def service_log() -> Iterator[ServiceLog]:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    # As in production, where uvicorn runs without a log config of its own (log_config=None):
    # its loggers have no handlers and reach the root. Servers started by other tests with
    # uvicorn's default config left theirs writing to stderr only.
    uvicorn_loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error")]
    uvicorn_saved = [(lg, lg.handlers[:], lg.propagate, lg.level) for lg in uvicorn_loggers]
    for logger in uvicorn_loggers:
        logger.handlers[:], logger.propagate = [], True
        logger.setLevel(logging.NOTSET)
    log = ServiceLog()
    configure_logging(stream=log.stream)
    yield log
    root.handlers[:] = saved
    root.setLevel(level)
    for logger, handlers, propagate, logger_level in uvicorn_saved:
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(logger_level)


def access(lines: list[dict[str, Any]], logger: str, path: str) -> dict[str, Any]:
    [line] = [
        line
        for line in lines
        if line["logger"] == logger and line["httpRequest"]["requestUrl"] == path
    ]
    return line


def errors(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["severity"] in ("ERROR", "CRITICAL")]


def eventually(check: Callable[[], T]) -> T:
    """The request log writes its line just after the answer: wait for it, briefly."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return check()
        except (AssertionError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def one_error(log: ServiceLog) -> dict[str, Any]:
    """The one ERROR line, once written; fails if there are two."""
    found = errors(log())
    assert found, "no ERROR line yet"
    [error] = found
    return error


def ai_settings(tmp_path: Path) -> ai.settings.Settings:
    return ai.settings.load_settings(
        {
            "AI_ADMIN_KEY": AI_KEY,
            "AI_MOCK_MODE": "1",
            "AI_GALLERY": str(tmp_path / "gallery.pt"),
            "AI_GOOGLE_CLOUD_PROJECT": PROJECT,
        }
    )


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The AI in mock mode and Central in front of it, each on its own real server."""
    with served(ai.app.create_app(ai_settings(tmp_path))) as ai_url:
        wait_ready(ai_url, AI_KEY)
        env = central_env(tmp_path, AI_BASE_URL=ai_url, GOOGLE_CLOUD_PROJECT=PROJECT)
        with served(central.app.create_app(central.settings.load_settings(env))) as central_url:
            yield central_url, ai_url


def a_store(central_url: str) -> int:
    with httpx.Client(base_url=central_url, headers=CENTRAL_KEY) as client:
        store = client.post("/api/v1/stores", json={"code": "S-LOG", "name": "Log bakery"})
        assert store.status_code == 201, store.text
        store_id: int = store.json()["id"]
        for sku in ("SCONE", "CROISSANT"):
            product = client.post(
                f"/api/v1/stores/{store_id}/products",
                json={"sku": sku, "name": sku.title(), "unit_price_krw": 3000},
            )
            assert product.status_code == 201, product.text
    return store_id


def test_the_ais_line_carries_centrals_request_id_and_trace(
    both: tuple[str, str], service_log: ServiceLog
) -> None:
    central_url, _ = both
    store_id = a_store(central_url)

    photos = httpx.get(
        f"{central_url}/api/v1/stores/{store_id}/products/SCONE/photos",
        headers={**CENTRAL_KEY, "X-Request-Id": "counter-7.req-42", "traceparent": TRACEPARENT},
    )

    assert photos.status_code == 200, photos.text
    path = f"/api/v1/stores/{store_id}/products/SCONE/photos"
    at_central = eventually(lambda: access(service_log(), "central.access", path))
    at_ai = eventually(lambda: access(service_log(), "ai.access", "/v1/products/SCONE/photos"))
    assert at_central["request_id"] == at_ai["request_id"] == "counter-7.req-42"
    trace = f"projects/{PROJECT}/traces/{TRACE_ID}"
    assert at_central["logging.googleapis.com/trace"] == at_ai["logging.googleapis.com/trace"]
    assert at_ai["logging.googleapis.com/trace"] == trace
    assert at_ai["logging.googleapis.com/trace_sampled"] is True


def test_a_tray_scan_joins_the_ai_by_centrals_own_request_id(
    both: tuple[str, str], service_log: ServiceLog
) -> None:
    central_url, _ = both
    store_id = a_store(central_url)
    with httpx.Client(base_url=central_url, headers=CENTRAL_KEY, timeout=10) as client:
        session = client.post(
            "/api/v1/tray-sessions", json={"store_id": store_id, "counter_id": "counter-1"}
        )
        assert session.status_code == 201, session.text
        # Cloud Run's own header, without an X-Request-Id: Central makes the id.
        scanned = client.post(
            f"/api/v1/tray-sessions/{session.json()['uuid']}/infer",
            json={"frames_b64": [images.b64(images.png())]},
            headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/12345;o=1"},
        )

    assert scanned.status_code == 201, scanned.text
    request_id = scanned.headers["x-request-id"]
    at_ai = eventually(lambda: access(service_log(), "ai.access", "/v1/infer"))
    assert at_ai["request_id"] == request_id and len(request_id) == 32
    assert at_ai["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}"
    assert at_ai["logging.googleapis.com/spanId"] == f"{12345:016x}"


async def boom(request: Request) -> JSONResponse:
    raise RuntimeError("the oven caught fire")


def test_a_crash_in_either_service_is_one_error_line_with_its_request_id(
    tmp_path: Path, service_log: ServiceLog
) -> None:
    central_app = central.app.create_app(central.settings.load_settings(central_env(tmp_path)))
    ai_app = ai.app.create_app(ai_settings(tmp_path))
    for app, logger in ((central_app, "central.access"), (ai_app, "ai.access")):
        app.router.routes.append(Route("/boom", boom))
        with served(app) as url:
            answer = httpx.get(
                f"{url}/boom",
                headers={"X-ADMIN-KEY": "central-admin-key" if logger[0] == "c" else AI_KEY},
            )
        assert answer.status_code == 500
        body = answer.json()
        assert body["error"] == "internal_error" and "oven" not in answer.text
        assert body["request_id"] == answer.headers["x-request-id"]

        # The server has stopped: whatever it was going to log is in.
        error = one_error(service_log)  # not also uvicorn's "Exception in ASGI application"
        assert error["logger"] == logger and error["request_id"] == body["request_id"]
        assert error["httpRequest"]["status"] == 500
        assert "RuntimeError: the oven caught fire" in error["stack_trace"]
        assert "Exception in ASGI application" not in service_log.stream.getvalue()
        service_log.clear()


async def burns_midway(request: Request) -> StreamingResponse:
    async def chunks() -> Any:
        yield b'{"items": ['
        raise RuntimeError("the oven caught fire mid-answer")

    return StreamingResponse(chunks(), media_type="application/json")


def kit_app(**routes: Any) -> Any:
    """A service as both are built: servicekit's error handlers inside its request log."""
    table = [Route(path, endpoint) for path, endpoint in routes.items()]
    return Starlette(
        routes=table,
        middleware=[Middleware(RequestLogMiddleware, access_logger="kit.access", routes=table)],
        exception_handlers=exception_handlers("the kit failed"),
    )


def test_a_crash_after_the_answer_began_is_one_line_and_cuts_the_answer(
    service_log: ServiceLog,
) -> None:
    with served(kit_app(**{"/midway": burns_midway})) as url:
        with pytest.raises(httpx.HTTPError):  # the client learns the answer is incomplete
            httpx.get(f"{url}/midway").json()

    error = one_error(service_log)
    assert error["logger"] == "kit.access" and "mid-answer" in error["stack_trace"]
    assert error["request_id"] and error["httpRequest"]["status"] == 200


def test_a_crash_outside_the_request_log_still_reaches_the_log(service_log: ServiceLog) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        raise RuntimeError("a middleware outside the request log broke")

    with served(broken) as url:
        assert httpx.get(f"{url}/").status_code == 500

    error = one_error(service_log)
    assert error["logger"] == "uvicorn.error" and "outside the request log" in error["stack_trace"]


def test_a_get_whose_client_leaves_is_one_info_line_with_499(service_log: ServiceLog) -> None:
    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(0.5)  # the answer takes a while; the client does not wait
        return JSONResponse({"done": True})

    with served(kit_app(**{"/slow": slow, "/fast": fast})) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
            time.sleep(0.1)
        assert httpx.get(f"{url}/fast").status_code == 200

        left = eventually(lambda: access(service_log(), "kit.access", "/slow"))
    assert left["severity"] == "INFO" and left["httpRequest"]["status"] == 499
    assert "closed the connection" in left["message"]
    answered = access(service_log(), "kit.access", "/fast")
    assert (answered["severity"], answered["httpRequest"]["status"]) == ("INFO", 200)


async def fast(request: Request) -> JSONResponse:
    return JSONResponse({"done": True})
