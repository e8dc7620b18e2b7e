"""The frames kept for learning stay within their byte budget, however many large trays arrive."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ai.trays import TrayMemory
from tests.ai import images
from tests.ai.conftest import AUTH, infer

MIB = 1024 * 1024


def _noisy_frame(width: int, height: int, seed: int) -> Image.Image:
    # Noise compresses badly: the worst case for a JPEG-backed memory.
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def test_a_thousand_large_trays_stay_within_the_budget() -> None:
    frames = [_noisy_frame(1600, 1200, seed) for seed in range(2)]
    budget = MIB
    memory = TrayMemory(max_trays=10_000, max_age_s=3600, max_bytes=budget, keep_width=160)
    for n in range(1000):
        memory.remember(f"tray-{n}", frames)
        assert memory.nbytes <= budget
    # The newest trays are kept, the oldest were evicted first.
    assert memory.recall("tray-0") is None
    newest = memory.recall("tray-999")
    assert newest is not None and len(newest) == 2
    # Reduced to the working width, and still saying how large the frame really was.
    assert newest[0].width == 160 and newest[0].info["full_size"] == (1600, 1200)
    assert 1 < len(memory) < 1000


def test_a_tray_larger_than_the_whole_budget_is_not_kept() -> None:
    memory = TrayMemory(max_trays=10, max_age_s=3600, max_bytes=1000, keep_width=640)
    memory.remember("huge", [_noisy_frame(640, 480, 1)])
    assert memory.recall("huge") is None and memory.nbytes == 0


def test_a_rescan_replaces_the_older_frames_without_counting_twice() -> None:
    memory = TrayMemory(max_trays=10, max_age_s=3600, max_bytes=MIB, keep_width=640)
    memory.remember("t", [_noisy_frame(320, 240, 1)])
    first = memory.nbytes
    memory.remember("t", [_noisy_frame(320, 240, 2)])
    assert len(memory) == 1 and memory.nbytes <= 2 * first
    memory.forget("t")
    assert memory.nbytes == 0


def test_the_service_keeps_trays_within_AI_TRAY_MEMORY_BYTES(make_client) -> None:
    budget = 4 * MIB
    client = make_client(AI_TRAY_MEMORY_BYTES=str(budget))
    big = images.png(_noisy_frame(1600, 1200, 3))
    for n in range(6):
        assert infer(client, [big, big], tray_id=f"t{n}").status_code == 200
        assert client.app.state.trays.nbytes <= budget
    items = [{"sku": "SCONE", "count": 1}]
    newest = client.post("/v1/feedback", json={"tray_id": "t5", "items": items}, headers=AUTH)
    assert newest.status_code == 200
    oldest = client.post("/v1/feedback", json={"tray_id": "t0", "items": items}, headers=AUTH)
    assert oldest.status_code == 404
