"""`nox -s gpu_smoke`: the real pipeline on the GPU must answer every tray as it does on the CPU.

Run on the VM after install: it proves CUDA is visible to torch, the pipeline loads on it, and the
GPU answers match the CPU answers, then prints the GPU latency per tray. `--cpu` runs the same
checks with the CPU on both sides (a second, fresh load must agree), which CI can afford.

Trays: every folder under fixtures/trays/ holding .jpg/.png frames (sorted by name) is one tray;
a few synthetic trays drawn here are always added, so the check runs even before fixtures exist.
"""

from __future__ import annotations

import base64
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from ai.frames import FrameLimits, decode_frames
from ai.recognizer import Recognizer, TrayRequest, answer_json, recognize

# Generous limits: the smoke test checks the pipeline, not the request guards.
LIMITS = FrameLimits(max_frames=8, max_frame_bytes=32 * 1024 * 1024, max_frame_pixels=50_000_000)
CONFIDENCE_TOLERANCE = 0.02  # GPU and CPU kernels round differently; decisions must not
BOX_TOLERANCE_PX = 4


@dataclass(frozen=True)
class Tray:
    name: str
    frames_b64: list[str]


def run_smoke(
    cpu: bool, pipeline: str, repeat: int, fixtures: Path = Path("fixtures"), out: Any = None
) -> int:
    out = out or sys.stdout
    device = "cpu"
    if not cpu:
        import torch

        if not torch.cuda.is_available():
            print(
                f"gpu_smoke: FAILED: CUDA is not visible to torch {torch.__version__} "
                f"(built for CUDA {torch.version.cuda}); run it on the GPU VM, or pass --cpu",
                file=sys.stderr,
            )
            return 1
        device = "cuda:0"
    try:
        build = _builder(pipeline)
        skus = _catalog_skus(fixtures)
        if pipeline == "mock":
            trays = _fixture_trays(fixtures / "trays") + synthetic_trays()
        else:  # the real pipeline needs products it has photos of, and trays of real-looking bread
            trays = bakery_trays(skus)
        checked, loaded_ms = _load(build, device)
        reference, _ = _load(build, "cpu")
        if pipeline != "mock":
            for recognizer in (checked, reference):
                register_catalog(recognizer, skus)
    except Exception as error:  # one clear line, whatever broke
        print(f"gpu_smoke: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(
        f"gpu_smoke: {pipeline} pipeline {checked.model_version} loaded on {checked.device} "
        f"in {loaded_ms:.0f} ms; {len(trays)} trays, {repeat} timed runs each, "
        f"compared with a fresh load on cpu",
        file=out,
    )
    failures = 0
    for tray in trays:
        request = TrayRequest(decode_frames(tray.frames_b64, LIMITS), tuple(skus), top_k=3)
        expected = _answer(reference, request)
        got = _answer(checked, request)  # also the warm-up run
        latencies = [_timed(checked, request) for _ in range(repeat)]
        problems = compare(got, expected)
        failures += bool(problems)
        print(
            f"  {tray.name:<24} frames={len(request.frames)} {got['decision']:<7} "
            f"items={sum(item['count'] for item in got['items']):<3} "
            f"p50={statistics.median(latencies):7.1f} ms  max={max(latencies):7.1f} ms  "
            f"{'ok' if not problems else 'MISMATCH: ' + '; '.join(problems)}",
            file=out,
        )
    if failures:
        print(f"gpu_smoke: FAILED: {failures} of {len(trays)} trays differ from the CPU", file=out)
        return 1
    print(f"gpu_smoke: ok: all {len(trays)} trays answer on {checked.device} as on cpu", file=out)
    return 0


def compare(got: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """How two answers for the same tray differ beyond floating-point noise."""
    if got["decision"] != expected["decision"]:
        return [f"decision {got['decision']} vs {expected['decision']}"]
    if [(i["sku"], i["count"]) for i in got["items"]] != [
        (i["sku"], i["count"]) for i in expected["items"]
    ]:
        return ["items differ"]
    problems = []
    for mine, theirs in zip(got["items"], expected["items"], strict=True):
        if abs(mine["confidence"] - theirs["confidence"]) > CONFIDENCE_TOLERANCE:
            problems.append(
                f"{mine['sku']} confidence {mine['confidence']} vs {theirs['confidence']}"
            )
        boxes = [(b["frame"], b["box"]) for b in mine["boxes"]]
        other = [(b["frame"], b["box"]) for b in theirs["boxes"]]
        if len(boxes) != len(other) or any(
            frame != frame_cpu
            or max(abs(a - b) for a, b in zip(box, box_cpu, strict=True)) > BOX_TOLERANCE_PX
            for (frame, box), (frame_cpu, box_cpu) in zip(boxes, other, strict=False)
        ):
            problems.append(f"{mine['sku']} boxes differ")
    return problems


def synthetic_trays() -> list[Tray]:
    """Four deterministic trays of drawn 'breads', each a JPEG and a PNG frame."""
    return [
        _draw_tray(f"synthetic-{seed}", seed, items) for seed, items in enumerate((1, 3, 6, 10))
    ]


SMOKE_TRAYS = 6


def bakery_trays(skus: list[str]) -> list[Tray]:
    """Generated trays (fixtures.bakery): 2 frames of 1280x960, 2-10 items, some touching."""
    from fixtures.bakery import SEEDS, make_tray

    trays = []
    for index in range(SMOKE_TRAYS):
        tray = make_tray(SEEDS["samples"], index, skus, n_items=(2, 10), n_frames=(2, 2))
        trays.append(Tray(f"bakery-{index}", [base64.b64encode(j).decode() for j in tray.jpegs]))
    return trays


def register_catalog(recognizer: Recognizer, skus: list[str], photos_per_product: int = 3) -> None:
    """Register each product's reference photos, as staff would through the API."""
    from ai.recognizer import Learner
    from fixtures.bakery import SEEDS, make_reference

    assert isinstance(recognizer, Learner), "the real pipeline registers products"
    for sku in skus:
        photos = [
            base64.b64encode(make_reference(SEEDS["references"], sku, k)).decode()
            for k in range(photos_per_product)
        ]
        recognizer.register(sku, decode_frames(photos, LIMITS))


def _builder(pipeline: str) -> Callable[[str], Recognizer]:
    if pipeline == "mock":
        from ai.mock import MockRecognizer

        return lambda device: MockRecognizer()
    from ai.factory import build_real_recognizer

    # A gallery in memory only: the smoke registers its own products and leaves no file behind.
    return lambda device: build_real_recognizer(device, gallery=None)


def _load(build: Callable[[str], Recognizer], device: str) -> tuple[Recognizer, float]:
    started = time.perf_counter()
    recognizer = build(device)
    recognizer.load()
    return recognizer, (time.perf_counter() - started) * 1000


def _answer(recognizer: Recognizer, request: TrayRequest) -> dict[str, Any]:
    return answer_json(recognize(recognizer, request), recognizer, {})


def _timed(recognizer: Recognizer, request: TrayRequest) -> float:
    started = time.perf_counter()
    recognize(recognizer, request)
    if recognizer.device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()  # count the GPU's work, not just the launches
    return (time.perf_counter() - started) * 1000


def _catalog_skus(fixtures: Path) -> list[str]:
    catalog = json.loads((fixtures / "catalog.json").read_text(encoding="utf-8"))
    return [product["sku"] for product in catalog["products"]]


def _fixture_trays(folder: Path) -> list[Tray]:
    trays = []
    for tray_dir in sorted(p for p in folder.glob("*") if p.is_dir()):
        frames = sorted(p for p in tray_dir.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        if frames:
            encoded = [base64.b64encode(frame.read_bytes()).decode("ascii") for frame in frames]
            trays.append(Tray(tray_dir.name, encoded))
    return trays


def _draw_tray(name: str, seed: int, items: int) -> Tray:
    rng = random.Random(seed)
    shapes = []
    for _ in range(items):
        x, y = rng.randint(40, 560), rng.randint(40, 400)
        w, h = rng.randint(50, 110), rng.randint(40, 90)
        color = (rng.randint(150, 230), rng.randint(90, 170), rng.randint(30, 90))
        shapes.append((x, y, w, h, color))
    frames = []
    for frame, (shift, fmt) in enumerate(((0, "JPEG"), (6, "PNG"))):
        image = Image.new("RGB", (640, 480), (235, 232, 225))
        draw = ImageDraw.Draw(image)
        for x, y, w, h, color in shapes:
            draw.ellipse((x + shift, y + shift, x + shift + w, y + shift + h), fill=color)
        image = image.filter(ImageFilter.GaussianBlur(1 + frame))
        buffer = io.BytesIO()
        image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        frames.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return Tray(name, frames)
