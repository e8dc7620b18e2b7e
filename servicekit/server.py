"""The HTTP server both services run: uvicorn on httptools, with a header-size cap and JSON 4xx.

httptools sets no limit on the request line and headers: 100 MB of headers were read and answered
200. Here both the bytes that arrive before the headers are complete and the URL and headers the
parser hands over (headers that came in one read) are counted; past the service's
`MAX_HEADER_BYTES` setting (64 KiB by default) the answer is 431, the application never sees the
request, and the connection closes. uvicorn's own answers to a request it cannot parse are
text/plain; here they are the same JSON error body the applications send.
"""

from __future__ import annotations

import json
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from servicekit.settings import DEFAULT_MAX_HEADER_BYTES

MAX_HEADER_BYTES = DEFAULT_MAX_HEADER_BYTES


# How long a refused client may keep sending before its connection is closed.
DRAIN_S = 5.0


def _json_close(status: int, reason: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + payload


class GuardedHttpProtocol(HttpToolsProtocol):
    """httptools with a cap on the bytes before the end of the headers, and JSON errors."""

    max_header_bytes = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0  # raw bytes read while the headers were still incomplete
        self._parsed_bytes = 0  # the request line's URL and the headers the parser has seen
        self._in_headers = True
        self._over_cap = False
        self._refused = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0
        self._parsed_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_bytes += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        if self._parsed_bytes > self.max_header_bytes:
            # Headers that arrived in one read are over the cap: stop before the application
            # sees the request. The parser reports the raised error and uvicorn answers it
            # through send_400_response, which answers 431 instead.
            self._over_cap = True
            raise ValueError("request headers over the cap")
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already; what the client still sends is dropped, not parsed
        # Counted after parsing, so the body that shares a read with the headers is not counted.
        super().data_received(data)
        if self._refused or not self._in_headers or self.transport.is_closing():
            return
        self._header_bytes += len(data)
        if self._header_bytes > self.max_header_bytes:
            self._refuse_headers()

    def _refuse_headers(self) -> None:
        self.logger.warning("request headers over %d bytes refused", self.max_header_bytes)
        body = {
            "error": "headers_too_large",
            "message": f"the request line and headers exceed {self.max_header_bytes} bytes",
            "limit": "max_header_bytes",
            "max": self.max_header_bytes,
        }
        self.transport.write(_json_close(431, "Request Header Fields Too Large", body))
        # Half-close and drain: closing with unread bytes would reset the connection and the
        # client would never read the answer. The drain ends when the client closes, or soon.
        self._refused = True
        self.transport.write_eof()
        self.loop.call_later(DRAIN_S, self.transport.close)

    def send_400_response(self, msg: str) -> None:
        if self._over_cap:
            self._refuse_headers()
            return
        self.transport.write(
            _json_close(400, "Bad Request", {"error": "bad_request", "message": msg})
        )
        self.transport.close()


def guarded_protocol(max_header_bytes: int) -> type[GuardedHttpProtocol]:
    """The guarded protocol with this cap on the request line and headers."""
    return type(
        "GuardedHttpProtocol", (GuardedHttpProtocol,), {"max_header_bytes": max_header_bytes}
    )


def run(app: Any, max_header_bytes: int = MAX_HEADER_BYTES, **options: Any) -> None:
    """uvicorn.run with the guarded protocol; options as uvicorn.run takes them."""
    uvicorn.run(app, http=guarded_protocol(max_header_bytes), **options)
