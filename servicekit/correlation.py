"""The request id and trace a request carries, and the headers that carry them to the next service.

`RequestLogMiddleware` reads them from each request and keeps them in a context variable for the
request's task (and the background work it runs); Central's AI client sends them on with every
call (`forwarded_headers`), so the AI's log lines carry the same `request_id` and trace as
Central's and Cloud Logging shows both services' lines of one request together.

A trace header is read, logged and passed on only when it has its standard form: W3C
`traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`) or Google's `X-Cloud-Trace-Context`
(`<32 hex>/<decimal span>;o=1`). Anything else is ignored, never echoed into a log or a header.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_CLOUD_TRACE = re.compile(r"([0-9a-f]{32})(?:/([0-9]{1,20}))?(?:;o=([01]))?")
_ZERO_TRACE = "0" * 32


@dataclass(frozen=True)
class Trace:
    """A request's place in a distributed trace, and the header it came in (to pass on as is)."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str | None  # 16 lowercase hex digits, as Cloud Logging's spanId wants it
    sampled: bool
    header: tuple[str, str]


def parse_trace(headers: Mapping[bytes, bytes]) -> Trace | None:
    """The trace of `traceparent` or, failing that, `X-Cloud-Trace-Context`; None if neither."""
    raw = headers.get(b"traceparent")
    if raw is not None:
        value = raw.decode("latin-1").strip().lower()
        match = _TRACEPARENT.fullmatch(value)
        if match and match[1] != "ff" and match[2] != _ZERO_TRACE:
            sampled = bool(int(match[4], 16) & 1)
            return Trace(match[2], match[3], sampled, ("traceparent", value))
    raw = headers.get(b"x-cloud-trace-context")
    if raw is not None:
        value = raw.decode("latin-1").strip().lower()
        match = _CLOUD_TRACE.fullmatch(value)
        if match and match[1] != _ZERO_TRACE:
            span = int(match[2]) if match[2] else 0
            span_id = f"{span:016x}" if 0 < span < 2**64 else None
            return Trace(match[1], span_id, match[3] == "1", ("X-Cloud-Trace-Context", value))
    return None


def trace_fields(trace: Trace | None, project: str) -> dict[str, Any]:
    """Cloud Logging's trace fields for a line, given a project.

    The trace field must name the project (`projects/P/traces/T`) for the console to join the
    line to its trace; without a project there is nothing useful to write.
    """
    if trace is None or not project:
        return {}
    out: dict[str, Any] = {
        "logging.googleapis.com/trace": f"projects/{project}/traces/{trace.trace_id}"
    }
    if trace.span_id is not None:
        out["logging.googleapis.com/spanId"] = trace.span_id
    out["logging.googleapis.com/trace_sampled"] = trace.sampled
    return out


@dataclass(frozen=True)
class Correlation:
    """What joins one request's log lines, in this service and the next."""

    request_id: str
    trace: Trace | None


_current: contextvars.ContextVar[Correlation | None] = contextvars.ContextVar(
    "servicekit_correlation", default=None
)


def current() -> Correlation | None:
    """The request being answered in this task; None outside a request (start-up, sweeps)."""
    return _current.get()


def enter(correlation: Correlation) -> contextvars.Token[Correlation | None]:
    return _current.set(correlation)


def leave(token: contextvars.Token[Correlation | None]) -> None:
    _current.reset(token)


def forwarded_headers() -> dict[str, str]:
    """`X-Request-Id` and the trace header for a call made while answering a request."""
    correlation = _current.get()
    if correlation is None:
        return {}
    headers = {"X-Request-Id": correlation.request_id}
    if correlation.trace is not None:
        name, value = correlation.trace.header
        headers[name] = value
    return headers
