"""One JSON line per request in Cloud Logging's shape, with a request id and the trace.

Only the method, route, status, latency and ids are logged: never headers, bodies, keys or frames.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central.metrics import Metrics

_SEVERITY = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "CRITICAL": "CRITICAL",
}
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


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
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every call to the AI at INFO; Central's own lines already say what happened.
    logging.getLogger("httpx").setLevel(logging.WARNING)


access_log = logging.getLogger("central.access")


class RequestLogMiddleware:
    """Assign a request id, time the request, log one line and count it."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        routes: Sequence[BaseRoute] = (),
        gcp_project: str = "",
    ) -> None:
        self.app = app
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
        request_id = _safe_id(headers.get(b"x-request-id")) or uuid.uuid4().hex
        scope["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = self._route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            entry: dict[str, Any] = {
                "request_id": request_id,
                "httpRequest": {
                    "requestMethod": method,
                    "requestUrl": scope["path"],
                    "status": status,
                    "latency": f"{elapsed:.6f}s",
                    "userAgent": headers.get(b"user-agent", b"").decode("latin-1"),
                    "remoteIp": (scope.get("client") or ("", 0))[0],
                },
            }
            trace = _trace(headers, self.gcp_project)
            if trace:
                entry.update(trace)
            level = (
                logging.ERROR
                if status >= 500
                else logging.WARNING
                if status >= 400
                else logging.INFO
            )
            access_log.log(level, f"{method} {scope['path']} {status}", extra=entry)


def _safe_id(raw: bytes | None) -> str | None:
    if not raw or len(raw) > 128:
        return None
    text = raw.decode("latin-1")
    return text if all(c.isalnum() or c in "-_." for c in text) else None


def _trace(headers: dict[bytes, bytes], project: str) -> dict[str, Any]:
    """Honour Cloud Run's trace headers so the log line joins the request's trace."""
    trace_id = span_id = None
    sampled = False
    if b"traceparent" in headers:  # W3C: 00-<trace>-<span>-<flags>
        parts = headers[b"traceparent"].decode("latin-1").split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            trace_id, span_id, sampled = parts[1], parts[2], parts[3].endswith("1")
    elif b"x-cloud-trace-context" in headers:  # TRACE_ID/SPAN_ID;o=1
        value = headers[b"x-cloud-trace-context"].decode("latin-1")
        trace_part, _, options = value.partition(";")
        trace_id, _, span_id = trace_part.partition("/")
        sampled = options.strip() == "o=1"
    if not trace_id or not all(c in "0123456789abcdefABCDEF" for c in trace_id):
        return {}
    prefix = f"projects/{project}/traces/" if project else ""
    out: dict[str, Any] = {"logging.googleapis.com/trace": f"{prefix}{trace_id}"}
    if span_id:
        out["logging.googleapis.com/spanId"] = span_id
    out["logging.googleapis.com/trace_sampled"] = sampled
    return out
