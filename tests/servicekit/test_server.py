"""The real server on loopback: oversized headers are a 431, unparsable requests a JSON 400."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from servicekit.server import MAX_HEADER_BYTES, GuardedHttpProtocol, guarded_protocol


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    yield from serve(GuardedHttpProtocol)


@pytest.fixture(scope="module")
def small_cap_port() -> Iterator[int]:
    """A server whose MAX_HEADER_BYTES setting is 2 KiB."""
    yield from serve(guarded_protocol(2048))


def serve(protocol: type[GuardedHttpProtocol]) -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=free, http=protocol)
    config.log_config = None
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield free
    server.should_exit = True
    thread.join(10)


def exchange(port: int, *parts: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            for part in parts:
                conn.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything: the point
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def request(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
        + extra
        + b"content-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def test_a_large_body_after_small_headers_is_served(port: int) -> None:
    status, _, body = exchange(port, request(b"x" * (4 * MAX_HEADER_BYTES)))
    assert status == 200 and json.loads(body) == {"bytes": 4 * MAX_HEADER_BYTES}


def test_headers_past_the_cap_are_a_431_naming_it(port: int) -> None:
    huge = b"".join(b"x-filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(2000))  # 2 MB
    status, headers, body = exchange(port, request(b"{}", huge))
    assert status == 431 and headers["content-type"] == "application/json"
    assert json.loads(body)["limit"] == "max_header_bytes"


def test_an_unparsable_request_is_a_json_400(port: int) -> None:
    status, headers, body = exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "bad_request"


def test_the_header_cap_is_the_services_setting(small_cap_port: int) -> None:
    filler = b"x-filler: " + b"a" * 3000 + b"\r\n"
    status, _, body = exchange(small_cap_port, request(b"{}", filler))
    assert status == 431 and json.loads(body)["max"] == 2048
    status, _, _ = exchange(small_cap_port, request(b"{}", b"x-small: " + b"a" * 1000 + b"\r\n"))
    assert status == 200
