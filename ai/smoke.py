"""`nox -s gpu_smoke`: the real pipeline on the GPU must answer every tray as it does on the CPU.

Run on the VM after `scripts/install_ai.sh`: it prints the device, torch's CUDA build, the NVIDIA
driver and the GPU latency per tray; it fails when CUDA is not visible or the pipeline did not load
on it (an `AI_DEVICE=cuda` service would refuse to start the same way), and when a GPU answer
differs from the CPU's beyond floating-point noise. `--cpu` runs the same checks with the CPU on
both sides (a second, fresh load must agree), which CI can afford.

The trays and reference photos are the committed samples in ai/smoke_samples/ (JPEGs from the
synthetic bakery, listed in manifest.json), so the check needs nothing the VM does not have.
"""

from __future__ import annotations

import base64
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from ai.frames import FrameLimits, decode_frames
from ai.recognizer import Recognizer, TrayRequest, answer_json, recognize

SAMPLES = Path(__file__).resolve().parent / "smoke_samples"
# Generous limits: the smoke test checks the pipeline, not the request guards.
LIMITS = FrameLimits(max_frames=8, max_frame_bytes=32 * 1024 * 1024, max_frame_pixels=50_000_000)
CONFIDENCE_TOLERANCE = 0.02  # GPU and CPU kernels round differently; decisions must not
BOX_TOLERANCE_PX = 4


class SmokeError(Exception):
    """The smoke cannot run or its premise fails (no CUDA, no samples, nothing registered)."""


@dataclass(frozen=True)
class Tray:
    name: str
    frames_b64: list[str]


@dataclass(frozen=True)
class Samples:
    """The committed catalog for the smoke: reference photos per SKU, and trays of those SKUs."""

    photos: dict[str, list[str]]  # sku -> base64 JPEGs
    trays: list[Tray]

    @property
    def skus(self) -> list[str]:
        return sorted(self.photos)


def load_samples(folder: Path = SAMPLES) -> Samples:
    """Read manifest.json and the JPEGs it names; SmokeError names what is missing."""
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        photos = {
            sku: [_b64(folder / name) for name in names]
            for sku, names in manifest["products"].items()
        }
        trays = [
            Tray(tray["name"], [_b64(folder / name) for name in tray["frames"]])
            for tray in manifest["trays"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SmokeError(f"the smoke samples in {folder} are unreadable: {error}") from error
    if not photos or not trays:
        raise SmokeError(f"{manifest_path} lists no products or no trays")
    return Samples(photos, trays)


def device_report() -> tuple[bool, str]:
    """Whether torch sees CUDA, and one line naming torch, its CUDA build, the GPU and driver."""
    import torch

    from ai.device import describe

    visible = torch.cuda.is_available()
    report = describe()
    if visible:
        report += f"; GPU {torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}"
    return visible, report


def run_smoke(
    cpu: bool, pipeline: str, repeat: int, samples: Path = SAMPLES, out: Any = None
) -> int:
    out = out or sys.stdout
    device = "cpu"
    if pipeline != "mock" or not cpu:
        visible, report = device_report()
        print(f"gpu_smoke: {report}", file=out)
        if not cpu and not visible:
            print(
                f"gpu_smoke: FAILED: CUDA is not visible to torch ({report}); a driver older "
                "than torch's CUDA build needs, or no GPU; run it on the GPU VM, or pass --cpu",
                file=sys.stderr,
            )
            return 1
        device = "cpu" if cpu else "cuda:0"
    try:
        catalog = load_samples(samples)
        build = _builder(pipeline)
        trays = catalog.trays + (synthetic_trays() if pipeline == "mock" else [])
        checked, loaded_ms = _load(build, device)
        if not cpu and not checked.device.startswith("cuda"):
            raise SmokeError(f"the pipeline loaded on {checked.device!r}, not on CUDA")
        reference, _ = _load(build, "cpu")
        if pipeline != "mock":
            for recognizer in (checked, reference):
                register_catalog(recognizer, catalog)
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
        request = TrayRequest(decode_frames(tray.frames_b64, LIMITS), tuple(catalog.skus), top_k=3)
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


def register_catalog(recognizer: Recognizer, catalog: Samples) -> None:
    """Register each product's reference photos, as staff would through the API.

    SmokeError when a product ends up with no photo in the gallery: every tray would go to review
    and the comparison would prove nothing.
    """
    from ai.recognizer import Learner

    if not isinstance(recognizer, Learner):
        raise SmokeError("the real pipeline must learn products (ai.recognizer.Learner)")
    for sku, photos in catalog.photos.items():
        result = recognizer.register(sku, decode_frames(photos, LIMITS))
        if registered(result) == 0:
            raise SmokeError(f"none of the {len(photos)} reference photos of {sku} was accepted")


def registered(result: object) -> int:
    """How many photos a registration added: a sequence of per-photo outcomes (each with a
    `photo_id` when it joined the gallery), or a summary mapping with `added`."""
    if isinstance(result, Mapping):
        return int(result.get("added", 0))
    if isinstance(result, list | tuple):
        return sum(getattr(outcome, "photo_id", None) is not None for outcome in result)
    raise SmokeError(f"register() returned {type(result).__name__}, not outcomes or a summary")


def synthetic_trays() -> list[Tray]:
    """Four deterministic trays of drawn 'breads', each a JPEG and a PNG frame (mock pipeline)."""
    return [
        _draw_tray(f"synthetic-{seed}", seed, items) for seed, items in enumerate((1, 3, 6, 10))
    ]


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


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
