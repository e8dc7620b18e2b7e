"""Request bodies read whole, bounded in size, time and number, before the application sees them.

A stalled upload (a client that sends a few bytes and waits) holds a connection and its buffer;
eight of them cost the AI service ~500 MiB. So a body must arrive within a deadline, no single read
may wait longer than `read_timeout_s`, at most `max_concurrent` bodies are in flight at once, and a
body over `max_body_bytes` is refused from its Content-Length or as soon as it grows past it. A
client that disconnects mid-upload gets no answer and no error: that is the client's doing, not a
500 (the request log's line says so, at INFO, with status 499). Each service sets these limits
from its settings (`servicekit.settings.read_http_limits`).

Answers: 413 (too large), 408 (too slow), 503 with Retry-After (too many uploads at once), each a
JSON error body naming the limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.errors import error_response
from servicekit.settings import (
    DEFAULT_UPLOAD_DEADLINE_S,
    DEFAULT_UPLOAD_READ_TIMEOUT_S,
    HttpLimits,
)

log = logging.getLogger("servicekit.uploads")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class UploadLimits:
    """What one service allows; `names` are the settings a client-facing message points to."""

    max_body_bytes: int
    read_timeout_s: float = DEFAULT_UPLOAD_READ_TIMEOUT_S
    body_deadline_s: float = DEFAULT_UPLOAD_DEADLINE_S
    max_concurrent: int = 16
    body_limit_name: str = "max_body_bytes"
    concurrency_name: str = "max_concurrent_uploads"
    timeout_name: str = "upload_read_timeout_s"
    too_large_code: str = "payload_too_large"

    @classmethod
    def from_settings(cls, limits: HttpLimits, **names: str) -> UploadLimits:
        """The limits the settings read; `names` as the fields above (`body_limit_name`, …)."""
        return cls(
            max_body_bytes=limits.max_body_bytes,
            read_timeout_s=limits.upload_read_timeout_s,
            body_deadline_s=limits.upload_deadline_s,
            max_concurrent=limits.max_concurrent_uploads,
            **names,
        )


class _Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


class _Disconnected(Exception):
    pass


class UploadGuardMiddleware:
    """Read the body under the limits, then hand the application a replay of it."""

    def __init__(self, app: ASGIApp, limits: UploadLimits) -> None:
        self.app = app
        self.limits = limits
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
        except _Refused as refused:
            await refused.response(scope, receive, send)
            return
        except _Disconnected:
            log.debug(
                "client disconnected during upload",
                extra={"method": scope["method"], "path": scope.get("path")},
            )
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        limits = self.limits
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise _Refused(self._too_large())
        if self.in_flight >= limits.max_concurrent:
            response = self._error(
                503,
                "too_many_uploads",
                f"{limits.max_concurrent} uploads are already being received; retry shortly",
                limits.concurrency_name,
                limits.max_concurrent,
            )
            response.headers["Retry-After"] = "1"
            raise _Refused(response)
        self.in_flight += 1
        try:
            return await self._receive_all(receive)
        finally:
            self.in_flight -= 1

    async def _receive_all(self, receive: Receive) -> bytes:
        limits = self.limits
        deadline = time.monotonic() + limits.body_deadline_s
        chunks: list[bytes] = []
        size = 0
        while True:
            wait = min(limits.read_timeout_s, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), timeout=max(wait, 0.0))
            except TimeoutError:
                raise _Refused(self._too_slow()) from None
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise _Refused(self._too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> JSONResponse:
        limit = self.limits.max_body_bytes
        return self._error(
            413,
            self.limits.too_large_code,
            f"the request body exceeds {self.limits.body_limit_name} ({limit} bytes)",
            self.limits.body_limit_name,
            limit,
        )

    def _too_slow(self) -> JSONResponse:
        limits = self.limits
        response = self._error(
            408,
            "request_timeout",
            f"the request body did not arrive in time: each read may wait "
            f"{limits.read_timeout_s:g} s and the whole body {limits.body_deadline_s:g} s",
            limits.timeout_name,
            limits.read_timeout_s,
        )
        response.headers["Connection"] = "close"
        return response

    def _error(self, status: int, code: str, message: str, limit: str, most: float) -> JSONResponse:
        return error_response(status, code, message, limit=limit, max=most)
