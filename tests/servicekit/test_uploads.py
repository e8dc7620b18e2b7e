"""Request bodies arrive whole, in time, within size, a few at once — or get a JSON 4xx/503."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from servicekit.uploads import UploadGuardMiddleware, UploadLimits


class App:
    """The application behind the guard: records the body it was handed."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def scope(headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {"type": "http", "method": "POST", "path": "/upload", "headers": headers or []}


def client(*chunks: bytes, stall: bool = False, disconnect: bool = False) -> Receive:
    """A client that sends chunks, then stalls forever or disconnects."""
    queue = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if disconnect:
            return {"type": "http.disconnect"}
        if stall:
            await asyncio.sleep(3600)
        return {"type": "http.request", "body": b"", "more_body": False}

    return receive


async def call(guard: UploadGuardMiddleware, receive: Receive, s: Scope | None = None) -> Any:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await guard(s or scope(), receive, send)
    if not sent:
        return None
    body = b"".join(m.get("body", b"") for m in sent[1:])
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, (json.loads(body) if sent[0]["status"] != 200 else body)


def guard(app: App, **limits: Any) -> UploadGuardMiddleware:
    return UploadGuardMiddleware(app, UploadLimits(**{"max_body_bytes": 100, **limits}))


def test_a_whole_body_reaches_the_application_in_one_piece() -> None:
    app = App()
    assert asyncio.run(call(guard(app), client(b"ab", b"cd")))[0] == 200
    assert app.bodies == [b"abcd"]


def test_a_stalled_upload_is_a_408_and_never_reaches_the_application() -> None:
    app = App()
    status, headers, body = asyncio.run(
        call(guard(app, read_timeout_s=0.05), client(b"ab", stall=True))
    )
    assert status == 408 and body["error"] == "request_timeout"
    assert body["limit"] == "upload_read_timeout_s" and headers["connection"] == "close"
    assert app.bodies == []


def test_a_trickling_upload_is_cut_at_the_body_deadline() -> None:
    async def trickle() -> Message:
        await asyncio.sleep(0.02)
        return {"type": "http.request", "body": b"x", "more_body": True}

    app = App()
    limits = {"read_timeout_s": 1.0, "body_deadline_s": 0.2, "max_body_bytes": 10**6}
    status, _, body = asyncio.run(call(guard(app, **limits), trickle))
    assert status == 408 and app.bodies == []


@pytest.mark.parametrize("declared", [True, False])
def test_a_body_over_the_limit_is_a_413_naming_it(declared: bool) -> None:
    app = App()
    headers = [(b"content-length", b"150")] if declared else []
    status, _, body = asyncio.run(call(guard(app), client(b"x" * 60, b"x" * 90), scope(headers)))
    assert (status, body["error"], body["limit"], body["max"]) == (
        413,
        "payload_too_large",
        "max_body_bytes",
        100,
    )
    assert app.bodies == []


def test_uploads_past_the_concurrency_cap_are_a_503_to_retry() -> None:
    app = App()
    g = guard(app, max_concurrent=2, read_timeout_s=0.3)

    async def run() -> list[Any]:
        stalled = [asyncio.create_task(call(g, client(b"a", stall=True))) for _ in range(2)]
        await asyncio.sleep(0.05)
        refused = await call(g, client(b"b"))
        results = await asyncio.gather(*stalled)
        after = await call(g, client(b"c"))  # the slots are free again
        return [refused, *results, after]

    refused, first, second, after = asyncio.run(run())
    status, headers, body = refused
    assert status == 503 and headers["retry-after"] == "1"
    assert body["error"] == "too_many_uploads" and body["max"] == 2
    assert first[0] == second[0] == 408
    assert after[0] == 200 and app.bodies == [b"c"]


def test_a_client_that_disconnects_mid_upload_gets_no_answer_and_no_error_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    with caplog.at_level(logging.DEBUG):
        assert asyncio.run(call(guard(app), client(b"ab", disconnect=True))) is None
    records = [r for r in caplog.records if r.name == "servicekit.uploads"]
    # The request log's access line is the one INFO line (servicekit.logs); here only a DEBUG.
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in records] == [
        ("DEBUG", "client disconnected during upload", None)
    ]
    assert app.bodies == []


def test_the_service_names_its_own_limit_in_the_common_error_body() -> None:
    app = App()
    limits = {"body_limit_name": "AI_MAX_BODY_BYTES", "too_large_code": "body_too_large"}
    _, _, body = asyncio.run(call(guard(app, **limits), client(b"x" * 200)))
    assert body == {
        "error": "body_too_large",
        "message": "the request body exceeds AI_MAX_BODY_BYTES (100 bytes)",
        "limit": "AI_MAX_BODY_BYTES",
        "max": 100,
    }
