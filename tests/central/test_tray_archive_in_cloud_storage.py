"""The tray archive in a Cloud Storage bucket: the real client library against a local stand-in
of the GCS JSON API (STORAGE_EMULATOR_HOST), so uploads and downloads cross real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from central.archive import FrameMissing, GcsArchive, archive_frames, parse_archive

SESSION = "0b9c6b0e-1f7a-4b55-9a8e-1e2f3a4b5c6d"


class GcsStandIn:
    """Just enough of the JSON API: multipart uploads and media downloads, kept in memory."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.fail_uploads = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                url = urllib.parse.urlparse(self.path)
                bucket = url.path.split("/")[5]
                if standin.fail_uploads:
                    return self._send(503, b'{"error": {"code": 503, "message": "down"}}')
                boundary = self.headers.get_content_type() and self.headers.get_param("boundary")
                parts = raw.split(f"--{boundary}".encode())
                meta = json.loads(parts[1].split(b"\r\n\r\n", 1)[1])
                media = parts[2].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
                standin.objects[(bucket, meta["name"])] = media
                body = {"bucket": bucket, "name": meta["name"], "size": str(len(media))}
                return self._send(200, json.dumps(body).encode())

            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                segments = url.path.split("/")
                bucket, name = segments[5], urllib.parse.unquote(segments[7])
                data = standin.objects.get((bucket, name))
                if data is None:
                    return self._send(404, b'{"error": {"code": 404, "message": "No such object"}}')
                return self._send(200, data, "application/octet-stream")

        return Handler


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsStandIn]:
    standin = GcsStandIn()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", standin.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "bakesight-test")
    yield standin
    standin.stop()


class Failures:
    def __init__(self) -> None:
        self.counted: list[str] = []

    def labels(self, cause: str) -> Failures:
        self.counted.append(cause)
        return self

    def inc(self) -> None:
        pass


def test_frames_go_to_the_bucket_under_the_prefix_and_come_back(gcs: GcsStandIn) -> None:
    archive = parse_archive("gs://proj-bakesight-tray/trays")
    assert isinstance(archive, GcsArchive)
    frames = [base64.b64encode(b"\xff\xd8\xff" + bytes(range(200))).decode()]
    failures = Failures()
    names = asyncio.run(archive_frames(archive, SESSION, frames, failures))
    assert names is not None and failures.counted == []
    assert list(gcs.objects) == [("proj-bakesight-tray", f"trays/{names[0]}")]
    assert asyncio.run(archive.get(names[0])) == base64.b64decode(frames[0])


def test_a_bucket_that_refuses_is_counted_not_raised(gcs: GcsStandIn) -> None:
    gcs.fail_uploads = True
    archive = parse_archive("gs://proj-bakesight-tray/trays")
    failures = Failures()
    frames = [base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"x" * 50).decode()]
    assert asyncio.run(archive_frames(archive, SESSION, frames, failures)) is None
    assert len(failures.counted) == 1


def test_an_expired_object_is_missing(gcs: GcsStandIn) -> None:
    archive = parse_archive("gs://proj-bakesight-tray/trays")
    with pytest.raises(FrameMissing):
        asyncio.run(archive.get(f"{SESSION}/{'a' * 32}/frame-0.jpg"))
