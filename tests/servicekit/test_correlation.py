"""A request's id and trace: read only in standard forms, passed on while it is answered."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from servicekit.correlation import forwarded_headers, parse_trace, trace_fields
from servicekit.logs import RequestLogMiddleware

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


async def headers_for_the_next_service(request: Request) -> JSONResponse:
    return JSONResponse(forwarded_headers())


def client() -> TestClient:
    routes = [Route("/next", headers_for_the_next_service)]
    middleware = [Middleware(RequestLogMiddleware, access_logger="test.access", routes=routes)]
    return TestClient(Starlette(routes=routes, middleware=middleware))


def test_a_request_passes_on_its_id_and_trace_header_while_it_is_answered() -> None:
    traceparent = f"00-{TRACE_ID}-b7ad6b7169203331-01"
    with client() as http:
        given = http.get("/next", headers={"X-Request-Id": "req-1", "traceparent": traceparent})
        fresh = http.get("/next")

    assert given.json() == {"X-Request-Id": "req-1", "traceparent": traceparent}
    assert fresh.json() == {"X-Request-Id": fresh.headers["x-request-id"]}
    assert forwarded_headers() == {}  # outside a request: nothing to pass on


def test_cloud_runs_trace_header_is_passed_on_and_its_span_logged_in_hex() -> None:
    with client() as http:
        sent = http.get("/next", headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/12345;o=1"}).json()
    assert sent["X-Cloud-Trace-Context"] == f"{TRACE_ID}/12345;o=1"

    header = sent["X-Cloud-Trace-Context"].encode()
    fields = trace_fields(parse_trace({b"x-cloud-trace-context": header}), "bakesight-demo")
    assert fields == {
        "logging.googleapis.com/trace": f"projects/bakesight-demo/traces/{TRACE_ID}",
        "logging.googleapis.com/spanId": "0000000000003039",
        "logging.googleapis.com/trace_sampled": True,
    }


@pytest.mark.parametrize(
    "headers",
    [
        {b"traceparent": b"00-xyz-b7ad6b7169203331-01"},
        {b"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01\x00".encode()},
        {b"traceparent": b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01"},
        {b"traceparent": f"ff-{TRACE_ID}-b7ad6b7169203331-01".encode()},
        {b"x-cloud-trace-context": b"not-hex/1;o=1"},
        {b"x-cloud-trace-context": f'{TRACE_ID}/1;o=1", "severity": "CRITICAL'.encode()},
    ],
)
def test_a_malformed_trace_header_is_neither_logged_nor_passed_on(
    headers: dict[bytes, Any],
) -> None:
    assert parse_trace(headers) is None
    assert trace_fields(parse_trace(headers), "bakesight-demo") == {}


def test_traceparent_wins_over_cloud_runs_header_and_keeps_its_sampled_flag() -> None:
    trace = parse_trace(
        {
            b"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-00".encode(),
            b"x-cloud-trace-context": b"4bf92f3577b34da6a3ce929d0e0e4736/1;o=1",
        }
    )
    assert trace is not None
    assert (trace.trace_id, trace.span_id, trace.sampled) == (TRACE_ID, "b7ad6b7169203331", False)
