"""An AI stand-in that answers instantly: raw asyncio (uvloop when present), HTTP/1.1 keep-alive.

It answers `POST /v1/infer` per docs/ai-contract.md with the tests' default answer (AUTO, the first
candidates) and `GET /health`. Unlike testkit/ai_standin.py (a thread per request, built to
misbehave on demand), it costs almost nothing, so a benchmark measures Central and not the stand-in.

    python -m bench.ai_instant --port 9000 --key AI_ADMIN_KEY
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from testkit.ai_standin import default_answer

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    411: "Length Required",
}


def _response(status: int, payload: dict[str, Any], close: bool = False) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode() + body


class _Http(asyncio.Protocol):
    def __init__(self, key: str) -> None:
        self.key = key
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no asyncio subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, path = (lines[0].split(" ") + ["", ""])[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._send(_response(411, {"error": "length_required"}, close=True), close=True)
                return
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            close = headers.get("connection", "").lower() == "close"
            self._send(_response(*self._answer(method, path, headers, body), close=close), close)

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if method == "GET" and path == "/health":
            return 200, {"status": "ok"}
        if method == "POST" and path == "/v1/infer":
            if headers.get("x-admin-key") != self.key:
                return 401, {"error": "unauthorized", "message": "bad key"}
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                return 400, {"error": "invalid_json", "message": "the body is not JSON"}
            return 200, default_answer(request)
        return 404, {"error": "not_found", "message": f"no route {method} {path}"}

    def _send(self, data: bytes, close: bool) -> None:
        assert self.transport is not None
        self.transport.write(data)
        if close:
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int, key: str) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(key), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with the central extra
        pass
    try:
        asyncio.run(serve(args.host, args.port, args.key))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
