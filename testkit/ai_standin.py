"""A real HTTP server on loopback that stands in for the AI service and misbehaves on demand.

Central's client is never patched: it talks HTTP to this server, which answers per the contract
(docs/ai-contract.md) or, when told to, slowly, with a 500, with garbage, or not at all.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from PIL import Image

MAX_PHOTOS = 5  # per product, as the service's contract says


class AiStandIn:
    """`behaviour`: ok | slow | drip | error500 | garbage | contract_breach | close | reject_photos.

    `drip` sends a good answer in 20 pieces, `delay_s` / 20 apart: no single read is slow.

    In `ok` mode the answer is `answer` if set, else AUTO with one of each of the first candidates.
    It keeps reference photos per store and SKU (refusing `no_item_jpeg_b64()` photos one by one,
    and more than MAX_PHOTOS with a 409), copies them to another store (`/v1/stores/{id}/seed`),
    and keeps the counters whose background was captured.
    """

    def __init__(self, admin_key: str) -> None:
        self.admin_key = admin_key
        self.behaviour = "ok"
        self.answer: dict[str, Any] | None = None
        self.delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self.photos: dict[tuple[str, str], list[str]] = {}  # (store, SKU) → photo ids
        self.backgrounds: dict[str, int] = {}  # counter → frames captured
        self._photo_number = 0
        self.entered = threading.Event()  # set when a request arrives (to stage races)
        self.release = threading.Event()  # a `hold` request waits for this
        self.release.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> AiStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.behaviour, self.answer, self.delay_s = "ok", None, 0.0
        self.requests.clear()
        self.photos.clear()
        self.backgrounds.clear()
        self.entered.clear()
        self.release.set()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self.do_POST()

            def do_DELETE(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                standin.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                standin.entered.set()
                standin.release.wait(timeout=30)
                behaviour = standin.behaviour
                if self.headers.get("x-admin-key") != standin.admin_key:
                    return self._send(401, {"error": "unauthorized", "message": "bad key"})
                if behaviour == "reject_photos" and self.path.startswith("/v1/products/"):
                    return self._send(
                        422, {"error": "unsupported_format", "message": "frame 0: GIF"}
                    )
                if behaviour == "close":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if behaviour == "slow":
                    time.sleep(standin.delay_s)
                if behaviour == "drip" and self.path == "/v1/infer":
                    return self._drip(standin.answer or default_answer(body), standin.delay_s)
                if behaviour == "error500":
                    return self._send(500, {"error": "boom"})
                if behaviour == "garbage":
                    return self._raw(200, b"<html>definitely not json")
                if self.path == "/v1/feedback":
                    return self._send(200, {"tray_id": body.get("tray_id"), "crops_added": 1})
                if self.path.startswith("/v1/products/"):
                    return self._send(*standin.photo_route(self.command, self.path, body))
                if self.path.startswith("/v1/stores/"):
                    return self._send(*standin.seed_route(self.path, body))
                if self.path.startswith("/v1/counters/"):
                    return self._send(*standin.background_route(self.path, body))
                if behaviour == "contract_breach":
                    return self._send(
                        200,
                        {
                            "decision": "AUTO",
                            "items": [{"sku": "NOT-A-CANDIDATE", "count": 1, "confidence": 0.99}],
                        },
                    )
                return self._send(200, standin.answer or default_answer(body))

            def _drip(self, payload: dict[str, Any], total_s: float) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                piece = len(data) // 20 + 1
                try:
                    for start in range(0, len(data), piece):
                        self.wfile.write(data[start : start + piece])
                        self.wfile.flush()
                        time.sleep(total_s / 20)
                except OSError:  # the client gave up, as it should
                    pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                self._raw(status, json.dumps(payload).encode())

            def _raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def background_route(self, path: str, body: dict[str, Any]) -> tuple[int, dict]:
        """Capture a counter's empty tray; a `no_item_jpeg_b64()` frame is not "empty"."""
        counter = unquote(path.split("/")[3])
        frames = body.get("frames_b64", [])
        if no_item_jpeg_b64() in frames:
            index = frames.index(no_item_jpeg_b64())
            message = f"frame {index}: items are on the tray"
            return 422, {**_error("invalid_background", message), "counter_id": counter}
        self.backgrounds[counter] = len(frames)
        return 201, {"counter_id": counter, "frames": len(frames)}

    def seed_route(self, path: str, body: dict[str, Any]) -> tuple[int, dict]:
        """Copy a store's photos into another store, all or nothing, per docs/ai-contract.md."""
        store = unquote(urlsplit(path).path.split("/")[3])
        source = str(body.get("from_store_id"))
        have = {sku: ids for (s, sku), ids in self.photos.items() if s == source and ids}
        wanted = body.get("skus") or sorted(have)
        if not any(have.get(sku) for sku in wanted):
            message = f"store {source!r} has no reference photos to copy"
            return 404, {**_error("store_not_found", message), "from_store_id": source}
        new = {
            sku: [i for i in have.get(sku, []) if i not in self.photos.get((store, sku), [])]
            for sku in wanted
        }
        over = [
            sku
            for sku, ids in new.items()
            if len(self.photos.get((store, sku), [])) + len(ids) > MAX_PHOTOS
        ]
        if over:
            message = f"copying would pass the limit of {MAX_PHOTOS} reference photos for {over}"
            return 409, {**_error("too_many_photos", message, "MAX_PHOTOS"), "max": MAX_PHOTOS}
        for sku, ids in new.items():
            self.photos.setdefault((store, sku), []).extend(ids)
        copied = {sku: len(ids) for sku, ids in new.items()}
        return 200, {"store_id": store, "from_store_id": source, "copied": copied}

    def photo_route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict]:
        """The service's photo routes, per docs/ai-contract.md."""
        url = urlsplit(path)
        parts = url.path.split("/")  # "", "v1", "products", sku, "photos"[, id]
        sku = unquote(parts[3])
        query = parse_qs(url.query)
        store = str(body.get("store_id") or query.get("store_id", ["default"])[0])
        kept = self.photos.setdefault((store, sku), [])
        if method == "GET":
            return 200, {"sku": sku, "photos": [_photo(i) for i in kept], "max": MAX_PHOTOS}
        if method == "DELETE":
            photo_id = unquote(parts[5])
            if photo_id not in kept:
                return 404, _error("photo_not_found", f"product {sku!r} has no photo {photo_id!r}")
            kept.remove(photo_id)
            return 200, {"sku": sku, "deleted": photo_id, "photos": [_photo(i) for i in kept]}
        photos = body.get("photos_b64", [])
        if len(kept) + len(photos) > MAX_PHOTOS:
            message = f"{sku!r} has {len(kept)} reference photo(s); {len(photos)} more would pass"
            return 409, {
                **_error("too_many_photos", f"{message} the limit of {MAX_PHOTOS}", "MAX_PHOTOS"),
                "sku": sku,
                "registered": len(kept),
                "given": len(photos),
                "max": MAX_PHOTOS,
            }
        added, refused = [], []
        for index, photo in enumerate(photos):
            if photo == no_item_jpeg_b64():
                refused.append({"index": index, "reason": "no item found"})
            else:
                self._photo_number += 1  # ids are never reused, as the service's
                kept.append(f"s{store}-{sku.lower()}-{self._photo_number}")
                added.append({"index": index, "id": kept[-1]})
        answer = {
            "sku": sku,
            "added": added,
            "refused": refused,
            "photos": [_photo(i) for i in kept],
        }
        if not refused:
            return 201, answer
        message = "; ".join(f"photo {r['index']}: {r['reason']}" for r in refused)
        return 422, {**_error("photos_refused", message), "frame": refused[0]["index"], **answer}


def _photo(photo_id: str) -> dict[str, str]:
    return {"id": photo_id, "added_at": "2026-12-01T09:00:00+00:00"}


def _error(error: str, message: str, limit: str | None = None) -> dict[str, Any]:
    """The AI's error body: `limit` only where one applies, as the service answers."""
    body: dict[str, Any] = {"error": error, "message": message}
    if limit is not None:
        body["limit"] = limit
    return body


def default_answer(body: dict[str, Any]) -> dict[str, Any]:
    skus = body.get("candidate_skus") or []
    digest = hashlib.sha256("".join(body.get("frames_b64", [])).encode()).digest()
    items = [
        {
            "sku": sku,
            "count": 1 + digest[i] % 2,
            "confidence": 0.95,
            "candidates": [{"sku": sku, "score": 0.95}],
            "boxes": [{"frame": 0, "box": [0, 0, 10, 10]}],
        }
        for i, sku in enumerate(skus[:2])
    ]
    return {
        "decision": "AUTO",
        "reason": "stand-in",
        "items": items,
        "model_version": "standin-1",
        "device": "cpu",
        "timings_ms": {"total": 1.0},
    }


def answer(decision: str, items: list[tuple[str | None, int, float]]) -> dict[str, Any]:
    return {
        "decision": decision,
        "reason": f"stand-in {decision.lower()}",
        "items": [
            {
                "sku": sku,
                "count": count,
                "confidence": conf,
                "candidates": [{"sku": sku, "score": conf}] if sku else [],
                "boxes": [{"frame": 0, "box": [1, 2, 30, 40]}],
            }
            for sku, count, conf in items
        ],
        "model_version": "standin-1",
        "device": "cpu",
        "timings_ms": {"total": 1.0},
    }


def tiny_png() -> str:
    """A real 1×1 PNG, base64 — enough for Central, which checks only the signature."""
    return base64.b64encode(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
            "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
        )
    ).decode()


def no_item_jpeg_b64() -> str:
    """A photo the stand-in finds no item in, or a background frame with items on it.

    A real JPEG (Central decodes every frame before forwarding it), told apart by its comment.
    """
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (240, 240, 240)).save(out, "JPEG", comment=b"no item here")
    return base64.b64encode(out.getvalue()).decode()


def tiny_jpeg_b64(seed: int = 0) -> str:
    """A real 8×8 JPEG, base64, whose bytes differ by seed (it rides in a JPEG comment)."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 160, 90)).save(out, "JPEG", comment=f"frame {seed}".encode())
    return base64.b64encode(out.getvalue()).decode()
