"""The request log: one JSON line per request, which a client cannot forge or fill with keys."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message

from servicekit.logs import CloudLoggingFormatter, RequestLogMiddleware
from servicekit.metrics import HttpMetrics
from servicekit.uploads import UploadGuardMiddleware, UploadLimits


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Everything the test's own thread logs while it runs, formatted as the services write it.

    Only that thread: a library's background thread left by an earlier test (a storage client
    retrying a stopped stand-in for a minute or two) may log at any time.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter())
    own = threading.get_ident()
    handler.addFilter(lambda record: record.thread == own)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO, logger: str | None = None) -> list[dict[str, Any]]:
    """The lines written, but asyncio's own start-up chatter."""
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    parsed = [line for line in parsed if line["logger"] != "asyncio"]
    return [line for line in parsed if logger is None or line["logger"] == logger]


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


def app_with_log(inner: Any = None, project: str = "") -> tuple[Any, HttpMetrics]:
    metrics = HttpMetrics("test")
    routes = [Route("/items/{name}", echo, methods=["GET", "POST"])]
    app = inner or Starlette(routes=routes)
    logged = RequestLogMiddleware(
        app, access_logger="test.access", metrics=metrics, routes=routes, gcp_project=project
    )
    return logged, metrics


async def call(
    app: Any, headers: list[tuple[bytes, bytes]], path: str = "/items/x", query: bytes = b""
) -> list[Message]:
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 5000),
    }
    await app(scope, receive, send)
    return sent


def test_a_newline_in_x_request_id_cannot_forge_a_log_line(log_text: io.StringIO) -> None:
    app, _ = app_with_log()
    forged = b'abc\n{"severity": "CRITICAL", "message": "payment approved"}'
    sent = asyncio.run(call(app, [(b"x-request-id", forged)]))

    [line] = lines(log_text)  # one request, one line: the newline did not start another
    assert "payment approved" not in log_text.getvalue()
    assert line["severity"] == "INFO" and line["message"] == "GET /items/x 200"
    fresh = dict(sent[0]["headers"])[b"x-request-id"].decode()
    assert line["request_id"] == fresh and len(fresh) == 32 and fresh.isalnum()


@pytest.mark.parametrize("unsafe", [b"a\rb", b"tab\there", b'quote"id', b"x" * 129, "키".encode()])
def test_an_unsafe_request_id_is_replaced_and_a_safe_one_kept(
    log_text: io.StringIO, unsafe: bytes
) -> None:
    app, _ = app_with_log()
    asyncio.run(call(app, [(b"x-request-id", unsafe)]))
    asyncio.run(call(app, [(b"x-request-id", b"counter-7.req_42")]))

    first, second = lines(log_text)
    assert first["request_id"] != unsafe.decode("latin-1") and len(first["request_id"]) == 32
    assert second["request_id"] == "counter-7.req_42"


def test_a_key_in_the_query_string_never_reaches_the_log(log_text: io.StringIO) -> None:
    app, _ = app_with_log()
    asyncio.run(call(app, [], query=b"key=sk-live-query-secret&AI_ADMIN_KEY=sk-live-query-secret"))

    [line] = lines(log_text)
    assert line["httpRequest"]["requestUrl"] == "/items/x"
    assert "sk-live-query-secret" not in log_text.getvalue()


def test_the_trace_joins_the_line_only_with_a_project(log_text: io.StringIO) -> None:
    trace = (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    for project in ("", "bakesight-demo"):
        app, _ = app_with_log(project=project)
        asyncio.run(call(app, [trace]))

    without, with_project = lines(log_text)
    assert "logging.googleapis.com/trace" not in without
    assert with_project["logging.googleapis.com/trace"] == (
        "projects/bakesight-demo/traces/0af7651916cd43dd8448eb211c80319c"
    )
    assert with_project["logging.googleapis.com/spanId"] == "b7ad6b7169203331"
    assert with_project["logging.googleapis.com/trace_sampled"] is True


class SlowAnswer:
    """An application that has read its body and is still working when the client leaves."""

    def __init__(self) -> None:
        self.finished = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        assert message["type"] == "http.request" and not message.get("more_body")
        await asyncio.sleep(0.2)  # the model runs; meanwhile the client closes the connection
        self.finished = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def test_a_disconnect_after_the_body_is_read_is_one_info_line(log_text: io.StringIO) -> None:
    slow = SlowAnswer()
    guarded = UploadGuardMiddleware(slow, UploadLimits(max_body_bytes=1000))
    app, metrics = app_with_log(guarded)

    async def run() -> list[Message]:
        sent: list[Message] = []
        messages = [{"type": "http.request", "body": b'{"frames_b64": []}', "more_body": False}]
        gone = asyncio.Event()

        async def receive() -> Message:
            if messages:
                return messages.pop(0)
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)  # a server drops what it cannot send to a closed connection

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/items/tray",
            "query_string": b"",
            "headers": [],
        }
        asyncio.get_running_loop().call_later(0.05, gone.set)
        await app(scope, receive, send)
        return sent

    asyncio.run(run())

    assert slow.finished
    [line] = lines(log_text)
    assert line["severity"] == "INFO" and "stack_trace" not in line
    assert line["httpRequest"]["status"] == 499
    assert "closed the connection" in line["message"]
    assert metrics.requests.labels("POST", "/items/{name}", "499")._value.get() == 1
    assert metrics.requests.labels("POST", "/items/{name}", "500")._value.get() == 0


def test_a_disconnect_during_the_upload_is_one_info_line(log_text: io.StringIO) -> None:
    slow = SlowAnswer()
    app, metrics = app_with_log(UploadGuardMiddleware(slow, UploadLimits(max_body_bytes=1000)))

    async def run() -> None:
        messages: list[Message] = [
            {"type": "http.request", "body": b"part", "more_body": True},
            {"type": "http.disconnect"},
        ]

        async def receive() -> Message:
            return messages.pop(0)

        async def send(message: Message) -> None:
            raise AssertionError("nothing is sent to a client that left")

        scope = {"type": "http", "method": "POST", "path": "/items/t", "headers": []}
        await app(scope, receive, send)

    asyncio.run(run())

    info = [line for line in lines(log_text) if line["severity"] != "DEBUG"]
    assert [(line["severity"], line["httpRequest"]["status"]) for line in info] == [("INFO", 499)]
    assert not slow.finished
    assert metrics.requests.labels("POST", "/items/{name}", "500")._value.get() == 0


def test_an_answer_delivered_in_full_is_not_a_disconnect(log_text: io.StringIO) -> None:
    app, metrics = app_with_log(
        UploadGuardMiddleware(SlowAnswer(), UploadLimits(max_body_bytes=1000))
    )

    async def run() -> None:
        messages = [{"type": "http.request", "body": b"{}", "more_body": False}]
        done = asyncio.Event()

        async def receive() -> Message:
            if messages:
                return messages.pop(0)
            await done.wait()  # as servers do: after the answer, receive() says "disconnect"
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        scope = {"type": "http", "method": "POST", "path": "/items/t", "headers": []}
        await app(scope, receive, send)

    asyncio.run(run())

    [line] = lines(log_text)
    assert (line["severity"], line["httpRequest"]["status"]) == ("INFO", 200)
    assert metrics.requests.labels("POST", "/items/{name}", "200")._value.get() == 1
