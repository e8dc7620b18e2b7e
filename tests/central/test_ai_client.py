"""Central's AI client against real loopback servers: one that misbehaves, and the mock service."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from central.ai_client import (
    AIClient,
    AIHTTPError,
    AIInvalidAnswer,
    AITimeout,
    AIUnreachable,
    Timeouts,
)
from tests.ai import images

SKUS = ["BAGEL-PLAIN", "CROISSANT"]
FAST = Timeouts(total=0.6, connect=0.5, pool=0.5)
GOOD = {
    "decision": "AUTO",
    "reason": "sure",
    "items": [
        {
            "sku": "BAGEL-PLAIN",
            "count": 2,
            "confidence": 0.97,
            "candidates": [{"sku": "BAGEL-PLAIN", "score": 0.97}],
            "boxes": [{"frame": 0, "box": [1, 2, 30, 40]}],
        }
    ],
    "model_version": "m",
    "device": "cpu",
    "timings_ms": {"total": 3.0},
}


class Misbehaving(ThreadingHTTPServer):
    """Answers every request the way `behaviour` says; counts the requests that reached it."""

    daemon_threads = True
    request_queue_size = 512  # a service that accepts many trays at once, as uvicorn does

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = "good"
        self.answer: object = GOOD
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Misbehaving

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests += 1
        behaviour = self.server.behaviour
        if behaviour == "slow":
            time.sleep(2)
        if behaviour == "busy":  # a model that takes a second per tray, for every tray at once
            time.sleep(1)
        if behaviour == "drip":  # every byte arrives before a read timeout, the whole much later
            body = json.dumps(GOOD).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), len(body) // 12 + 1):
                self.wfile.write(body[start : start + len(body) // 12 + 1])
                self.wfile.flush()
                time.sleep(0.15)
            return
        if behaviour == "hang_up":
            self.connection.close()
            return
        status, body = {
            "good": (200, json.dumps(self.server.answer).encode()),
            "slow": (200, json.dumps(GOOD).encode()),
            "busy": (200, json.dumps(GOOD).encode()),
            "500": (500, b'{"error": "internal_error", "message": "boom"}'),
            "502_html": (502, b"<html>Bad Gateway</html>"),
            "413": (413, b'{"error": "frame_too_large", "message": "frame 1 is too big"}'),
            "garbage": (200, b"\x00\x01 not json"),
        }[behaviour]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return await super().handle_async_request(request)


@pytest.fixture
def server() -> Iterator[Misbehaving]:
    server = Misbehaving()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def call_infer(url: str, transport: CountingTransport | None = None, frames=("AAAA",)):
    async def go():
        async with AIClient(url, "key", timeouts=FAST, transport=transport) as client:
            return await client.infer(list(frames), SKUS, request_id="r1")

    return asyncio.run(go())


def test_a_good_answer_is_returned(server):
    assert call_infer(server.url) == GOOD


def test_a_slow_service_is_a_read_timeout_and_is_not_retried(server):
    server.behaviour = "slow"
    transport = CountingTransport()

    with pytest.raises(AITimeout) as caught:
        call_infer(server.url, transport)

    assert caught.value.phase in {"read", "total"}
    assert transport.attempts == 1


def test_an_answer_dripping_in_slowly_runs_into_the_total_deadline(server):
    """No single read waits long, but the whole answer takes ~2 s: the 0.6 s deadline holds."""
    server.behaviour = "drip"
    started = time.monotonic()
    with pytest.raises(AITimeout) as caught:
        call_infer(server.url)
    assert caught.value.phase == "total"
    assert time.monotonic() - started < 1.2


def test_two_hundred_trays_at_once_all_get_the_slow_ais_answer(server):
    """More trays than the old pool of 100 wait on a 1 s model: none waits out a pool timeout."""
    server.behaviour = "busy"

    async def go():
        # A short pool wait: with fewer connections than trays, the rest would time out there.
        # Connect and total are generous: a loaded CI machine must not fail what the pool decides.
        timeouts = Timeouts(total=10.0, connect=5.0, pool=0.5)
        async with AIClient(server.url, "key", timeouts=timeouts) as client:
            return await asyncio.gather(
                *(client.infer(["AAAA"], SKUS) for _ in range(200)), return_exceptions=True
            )

    answers = asyncio.run(go())
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert not failures, failures[:3]
    assert server.requests == 200


@pytest.mark.parametrize(
    ("behaviour", "status", "error"),
    [("500", 500, "internal_error"), ("502_html", 502, None), ("413", 413, "frame_too_large")],
)
def test_an_http_error_is_typed_and_not_retried(server, behaviour, status, error):
    server.behaviour = behaviour
    transport = CountingTransport()

    with pytest.raises(AIHTTPError) as caught:
        call_infer(server.url, transport)

    assert caught.value.status_code == status
    assert caught.value.error == error
    assert transport.attempts == 1
    assert server.requests == 1


def test_garbage_is_an_invalid_answer(server):
    server.behaviour = "garbage"

    with pytest.raises(AIInvalidAnswer, match="not JSON"):
        call_infer(server.url)


def test_a_refused_connection_is_retried_once_then_unreachable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = CountingTransport()

    with pytest.raises(AIUnreachable):
        call_infer(f"http://127.0.0.1:{port}", transport)

    assert transport.attempts == 2


def test_a_connection_dropped_after_sending_is_unreachable_and_not_retried(server):
    server.behaviour = "hang_up"
    transport = CountingTransport()

    with pytest.raises(AIUnreachable):
        call_infer(server.url, transport)

    assert transport.attempts == 1


def _with(**changes):
    answer = json.loads(json.dumps(GOOD))
    answer["items"][0].update(changes)
    return answer


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (_with(sku="BAGUETTE"), "not among the candidate SKUs"),
        (_with(sku=None), "cannot be paid automatically"),
        (_with(count=0), "count"),
        (_with(count=True), "count"),
        (_with(confidence=1.5), "confidence"),
        (_with(confidence=-0.1), "confidence"),
        (_with(candidates=[{"sku": "BAGUETTE", "score": 0.5}]), "candidate"),
        (_with(boxes=[{"frame": 1, "box": [0, 0, 1, 1]}]), "box"),
        ({**GOOD, "decision": "MAYBE"}, "decision"),
        ({**GOOD, "items": "none"}, "items must be a list"),
        ({**GOOD, "model_version": None}, "model_version"),
        ([GOOD], "not a JSON object"),
    ],
)
def test_an_answer_that_breaks_the_contract_is_invalid(server, answer, problem):
    server.answer = answer

    with pytest.raises(AIInvalidAnswer, match=problem):
        call_infer(server.url)


def test_an_unmatched_item_is_fine_when_staff_will_review(server):
    server.answer = {**_with(sku=None), "decision": "UNKNOWN"}

    assert call_infer(server.url)["decision"] == "UNKNOWN"


# The client against the real service, started as `python -m ai serve` in mock mode.


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "AI_ADMIN_KEY": "service-key",
        "AI_MOCK_MODE": "1",
        "AI_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ai", "serve", "--host", "127.0.0.1", "--port", str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the service exited"
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_the_client_and_the_service_agree_on_the_contract(service):
    async def go():
        async with AIClient(service, "service-key") as client:
            ready = await client.ready()
            frame = images.b64(images.png(marker="REVIEW BAGEL-PLAIN*2"))
            return ready, await client.infer([frame, frame], SKUS, top_k=2)

    ready, answer = asyncio.run(go())

    assert ready["ready"] is True
    assert answer["decision"] == "REVIEW"
    assert [(item["sku"], item["count"]) for item in answer["items"]] == [("BAGEL-PLAIN", 2)]


def test_the_services_refusals_reach_central_typed(service):
    async def go(key, frames):
        async with AIClient(service, key) as client:
            return await client.infer(frames, SKUS)

    with pytest.raises(AIHTTPError) as refused:
        asyncio.run(go("service-key", [images.b64(images.encode(images.tray(), "GIF"))]))
    with pytest.raises(AIHTTPError) as unauthorized:
        asyncio.run(go("wrong-key", [images.b64(images.png())]))

    assert (refused.value.status_code, refused.value.error) == (415, "unsupported_format")
    assert (unauthorized.value.status_code, unauthorized.value.error) == (401, "unauthorized")


def test_the_client_manages_photos_and_backgrounds_with_the_service(service):
    from PIL import Image

    good = [images.b64(images.png(images.tray((shade, 90, 40)))) for shade in (120, 160)]
    blank = images.b64(images.png(Image.new("RGB", (64, 48), (200, 200, 200))))
    empty_tray = images.b64(images.jpeg(images.tray((235, 232, 225))))

    async def go():
        async with AIClient(service, "service-key") as client:
            added = await client.register("SCONE", good)
            with pytest.raises(AIHTTPError) as refused:
                await client.register("SCONE", [blank, images.b64(images.png())])
            listed = await client.photos("SCONE")
            deleted = await client.delete_photo("SCONE", added["added"][0]["id"])
            with pytest.raises(AIHTTPError) as missing:
                await client.delete_photo("SCONE", added["added"][0]["id"])
            captured = await client.capture_background("s1-counter-1", [empty_tray])
            frame = images.b64(images.png(marker="AUTO BAGEL-PLAIN"))
            answer = await client.infer([frame], SKUS, counter_id="s1-counter-1")
            return added, refused.value, listed, deleted, missing.value, captured, answer

    added, refused, listed, deleted, missing, captured, answer = asyncio.run(go())

    assert [a["index"] for a in added["added"]] == [0, 1]
    assert (refused.status_code, refused.error) == (422, "photos_refused")
    assert refused.body["refused"][0]["index"] == 0
    assert [a["index"] for a in refused.body["added"]] == [1]
    assert len(listed["photos"]) == 3
    assert [p["id"] for p in deleted["photos"]] == [p["id"] for p in listed["photos"]][1:]
    assert (missing.status_code, missing.error) == (404, "photo_not_found")
    assert captured["counter_id"] == "s1-counter-1"
    assert answer["decision"] == "AUTO"


def test_the_client_imports_neither_torch_nor_pillow_nor_starlette():
    script = (
        "import sys, central.ai_client; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'PIL', 'starlette'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
