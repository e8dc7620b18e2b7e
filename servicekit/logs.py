"""One JSON object per log line in Cloud Logging's shape, and one access line per request.

Both services log through `CloudLoggingFormatter`: `severity`, `message`, `logger`, `time`, the
record's extras, and `stack_trace` for exceptions. `RequestLogMiddleware` gives every request an
id (the client's `X-Request-Id` only when it is 1-128 letters, digits, `.`, `_` or `-`: a value
with a newline or a quote could otherwise forge a line or a field), times it, counts it, and logs
one line with the method, the path without its query string (a key sent as `?key=` never reaches
the log), the status and the latency, joined to the request's trace when one came and a project
is configured. The id and trace stay in the request's context for calls to the next service
(`servicekit.correlation`). Headers, bodies, keys and frames are never logged.

A client that leaves before the answer is complete (it timed out while the model ran) is the
client's doing: the line is INFO with status 499, not an ERROR, and it is not counted as a 500.
An exception the application did not handle is logged once: on the request's own line, ERROR,
with its traceback; the server's "Exception in ASGI application" for it is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import correlation
from servicekit.correlation import Correlation, parse_trace, trace_fields
from servicekit.metrics import HttpMetrics

_SEVERITY = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "CRITICAL": "CRITICAL",
}
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}

# The status nginx and others log for "the client closed the connection before the answer".
CLIENT_CLOSED = 499

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Set on an exception once a line with its traceback and request id is written.
_LOGGED = "_servicekit_logged"


class CloudLoggingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        # json.dumps escapes newlines and control characters: one record is always one line.
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(
    level: int | str = logging.INFO, quiet: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Every logger (uvicorn's included) to stdout as JSON lines; `quiet` ones at WARNING."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    handler.addFilter(LoggedOnce())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)


def already_logged(error: BaseException) -> bool:
    """Whether a line with this exception's traceback and its request id was written."""
    return bool(getattr(error, _LOGGED, False))


class LoggedOnce(logging.Filter):
    """Drops a second record of an exception already logged with its request.

    Starlette's error middleware re-raises after the 500 is sent (so that servers may log it), and
    uvicorn logs "Exception in ASGI application" with the same traceback but no request id: one
    crash would be two ERROR lines, counted twice by Error Reporting. An exception that no request
    line carried (a crash outside the request log) still reaches the log through uvicorn.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not already_logged(error)


def safe_request_id(raw: bytes | None) -> str | None:
    """The client's request id when it is safe to log and echo; None otherwise."""
    if not raw:
        return None
    text = raw.decode("latin-1")
    return text if _SAFE_REQUEST_ID.fullmatch(text) else None


def _has_no_body(headers: dict[bytes, bytes]) -> bool:
    """HTTP/1.1: a request without Content-Length and Transfer-Encoding has no body."""
    length = headers.get(b"content-length")
    return b"transfer-encoding" not in headers and (length is None or length.strip() == b"0")


class _Exchange:
    """What happened on the wire: whether the body is in, the answer out, the client gone."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._pending: Message | None = None  # a message taken early, for the application
        self.body_done = False
        self.response_done = False
        self.client_gone = False
        self.left = asyncio.Event()
        self.watcher: asyncio.Task[None] | None = None

    def _saw_disconnect(self) -> None:
        if not self.response_done:
            self.client_gone = True
        self.left.set()

    def _track(self, message: Message) -> None:
        if message["type"] == "http.disconnect":
            self._saw_disconnect()
        elif not message.get("more_body", False):
            self.body_done = True
            self.watcher = asyncio.create_task(self._watch())

    async def take_empty_body(self) -> None:
        """Take a bodiless request's one (empty) body message now, so the client leaving is
        seen even when the application never reads (a GET); the application gets it as usual.

        The server hands it over at once: the request was complete when the application began.
        """
        self._pending = await self._receive()
        self._track(self._pending)

    async def receive(self) -> Message:
        if self._pending is not None:
            message, self._pending = self._pending, None
            return message
        if self.body_done:
            # The body is in: all that can still arrive is the client leaving (see _watch).
            await self.left.wait()
            return {"type": "http.disconnect"}
        message = await self._receive()
        self._track(message)
        return message

    async def _watch(self) -> None:
        # After the body the server's receive() returns only when the client disconnects or the
        # answer is complete; the latter is not the client leaving.
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._saw_disconnect()

    async def stop(self) -> None:
        if self.watcher is not None and not self.watcher.done():
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher


class RequestLogMiddleware:
    """Assign a request id, time the request, log one line and count it."""

    def __init__(
        self,
        app: ASGIApp,
        access_logger: str,
        metrics: HttpMetrics | None = None,
        routes: Sequence[BaseRoute] = (),
        gcp_project: str = "",
    ) -> None:
        self.app = app
        self.log = logging.getLogger(access_logger)
        self.metrics = metrics
        self.routes = routes
        self.gcp_project = gcp_project

    def _route_template(self, scope: Scope) -> str:
        """The route's path template: a bounded metric label, unlike the raw path."""
        route = scope.get("route")
        if route is None:  # answered before routing (auth, size limit): match it here
            route = next((r for r in self.routes if r.matches(scope)[0] != Match.NONE), None)
        return getattr(route, "path", None) or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = safe_request_id(headers.get(b"x-request-id")) or uuid.uuid4().hex
        scope["request_id"] = request_id
        joined = Correlation(request_id, parse_trace(headers))
        token = correlation.enter(joined)
        exchange = _Exchange(receive)
        status = 500
        failure: Exception | None = None
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                exchange.response_done = True
            await send(message)

        try:
            if _has_no_body(headers):
                await exchange.take_empty_body()
            await self.app(scope, exchange.receive, send_with_id)
        except (ClientDisconnect, OSError) as error:
            if not exchange.client_gone:
                failure = error
                raise
        except Exception as error:
            # Re-raised: Starlette's error middleware answers the 500 (the services' error body).
            failure = error
            raise
        finally:
            await exchange.stop()
            if exchange.client_gone:
                status = CLIENT_CLOSED
            self._log(scope, headers, joined, status, time.perf_counter() - started, failure)
            correlation.leave(token)

    def _log(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        joined: Correlation,
        status: int,
        elapsed: float,
        failure: Exception | None,
    ) -> None:
        route = self._route_template(scope)
        method = scope["method"]
        if self.metrics is not None:
            self.metrics.observe(method, route, status, elapsed)
        entry: dict[str, Any] = {
            "request_id": joined.request_id,
            "route": route,
            "httpRequest": {
                "requestMethod": method,
                "requestUrl": scope["path"],  # the path alone: the query string may hold a key
                "status": status,
                "latency": f"{elapsed:.6f}s",
                "userAgent": headers.get(b"user-agent", b"").decode("latin-1")[:200],
                "remoteIp": (scope.get("client") or ("", 0))[0],
            },
        }
        entry.update(trace_fields(joined.trace, self.gcp_project))
        message = f"{method} {scope['path']} {status}"
        if failure is not None:
            # The one line of this crash: request id and traceback together (see LoggedOnce).
            self.log.error(f"{message} (unhandled error)", exc_info=failure, extra=entry)
            with contextlib.suppress(AttributeError):  # an exception type without attributes
                setattr(failure, _LOGGED, True)
            return
        if status == CLIENT_CLOSED:
            level = logging.INFO
            message += " (the client closed the connection before the answer)"
        elif status >= 500:
            level = logging.ERROR
        elif status >= 400:
            level = logging.WARNING
        else:
            level = logging.INFO
        self.log.log(level, message, extra=entry)
