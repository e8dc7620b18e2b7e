"""Run the pipeline over generated bakery splits: shared by calibration, evaluation and tests.

Products enter the gallery only through `Pipeline.register` (the registration endpoint's path), from
the reference photos of the `references` seed; trays come from a split's own seed.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import torch
from PIL import Image

from ai.recognition.pipeline import Pipeline, box_iou
from fixtures.bakery import LOOKALIKE_PAIRS, SEEDS, catalog_skus, make_reference, make_tray
from fixtures.bakery.scene import Tray


def jpeg_to_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def reference_images(sku: str, n: int = 5, seed: int | None = None) -> list[Image.Image]:
    """The first `n` generated reference photos of `sku`."""
    seed = SEEDS["references"] if seed is None else seed
    return [jpeg_to_image(make_reference(seed, sku, k)) for k in range(n)]


# a few products, look-alike pairs included: the unit tests' small gallery
SMALL_PRODUCTS = [
    "BAGEL-PLAIN",
    "BAGEL-SESAME",
    "MUFFIN-BLUEBERRY",
    "CROISSANT",
    "CREAM-BUN",
    "CHEESE-BALL",
    "BAGUETTE",
]


def register_catalog(
    p: Pipeline, skus: list[str] | None = None, photos: int = 5, seed: int | None = None
) -> None:
    """Register every product from its generated reference photos via the public API."""
    seed = SEEDS["references"] if seed is None else seed
    for sku in skus or catalog_skus():
        p.register(sku, [jpeg_to_image(make_reference(seed, sku, k)) for k in range(photos)])


def _tray(args: tuple[int, int, list[str]]) -> Tray:
    return make_tray(*args)


def generate_trays(seed: int, indices: range, skus: list[str]) -> Iterator[Tray]:
    """The trays `indices` of split `seed`, in order, drawn in worker processes.

    Drawing a tray takes about a second, twenty times longer than recognizing it, so calibration
    and evaluation spread the drawing over the cores while the caller recognizes.
    """
    workers = min(os.cpu_count() or 1, 8)
    if workers == 1 or len(indices) < 4:
        yield from (make_tray(seed, i, skus) for i in indices)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(_tray, [(seed, i, skus) for i in indices], chunksize=2)


def true_item(tray: Tray, frame: int, box: Sequence[float]) -> tuple[int, float]:
    """The tray's item whose true box in `frame` overlaps `box` (frame pixels) most, and the IoU."""
    overlaps = [box_iou(box, tray.boxes[j][frame]) for j in range(len(tray.poses))]
    k = max(range(len(overlaps)), key=overlaps.__getitem__)
    return k, overlaps[k]


def frame_box(
    seg_box: list[int], frame_size: tuple[int, int], seg_size: tuple[int, int]
) -> list[float]:
    """A box in segmentation pixels, in the frame's own pixels."""
    (w, h), (sh, sw) = frame_size, seg_size
    return [seg_box[0] * w / sw, seg_box[1] * h / sh, seg_box[2] * w / sw, seg_box[3] * h / sh]


@dataclass
class TrayResult:
    tray_id: str
    truth: dict[str, int]
    pred: dict[str, int]
    has_unknown: bool
    decision: str
    reason: str
    confusions: list[tuple[str, str]] = field(default_factory=list)  # (truth, predicted), frame 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.pred == self.truth and not self.has_unknown


def run_split(
    p: Pipeline, seed: int, n: int, *, exclude_one: bool = False, start: int = 0
) -> list[TrayResult]:
    """Recognize trays start..start+n-1 of the split `seed` with the whole catalog as candidates.

    exclude_one: drop one product on each tray from the candidates (the tray must not be AUTO).
    """
    skus = catalog_skus()
    out = []
    indices = range(start, start + n)
    for i, tray in zip(indices, generate_trays(seed, indices, skus), strict=True):
        cands = skus
        truth = tray.counts
        if exclude_one:
            gone = sorted(truth)[i % len(truth)]
            cands = [s for s in skus if s != gone]
        ans = p.recognize(tray.frames(), cands, top_k=3)
        pred = {it["sku"]: it["count"] for it in ans["items"] if it["sku"] is not None}
        conf = []
        for it in ans["items"]:
            for b in it["boxes"]:
                if b["frame"] != 0:
                    continue
                k, iou = true_item(tray, 0, b["box"])
                if iou >= 0.5 and tray.poses[k].sku != it["sku"]:
                    conf.append((tray.poses[k].sku, str(it["sku"])))
        out.append(
            TrayResult(
                tray.tray_id,
                truth,
                pred,
                any(it["sku"] is None for it in ans["items"]),
                ans["decision"],
                ans["reason"],
                conf,
                ans["timings_ms"],
            )
        )
    return out


def metrics(results: list[TrayResult]) -> dict:
    """RPC metrics (cAcc, ACD, mCIoU) and the payment metrics (automation, wrong-AUTO)."""
    n = len(results)
    skus = catalog_skus()
    exact = sum(r.exact for r in results)
    acd = sum(sum(abs(r.pred.get(s, 0) - r.truth.get(s, 0)) for s in skus) for r in results) / n
    ciou = []
    for s in skus:
        inter = sum(min(r.pred.get(s, 0), r.truth.get(s, 0)) for r in results)
        union = sum(max(r.pred.get(s, 0), r.truth.get(s, 0)) for r in results)
        if union:
            ciou.append(inter / union)
    auto = [r for r in results if r.decision == "AUTO"]
    wrong_auto = [r for r in auto if not r.exact]
    pairs = {tuple(sorted(x)) for x in LOOKALIKE_PAIRS}
    confusions = Counter(c for r in results for c in r.confusions)
    look = {
        f"{a} -> {b}": v
        for (a, b), v in sorted(confusions.items())
        if tuple(sorted((a, b))) in pairs
    }
    return {
        "trays": n,
        "items": sum(sum(r.truth.values()) for r in results),
        "cAcc": exact / n,
        "ACD": acd,
        "mCIoU": sum(ciou) / len(ciou) if ciou else 0.0,
        "automation": len(auto) / n,
        "wrong_auto": len(wrong_auto) / n,
        "wrong_auto_trays": [r.tray_id for r in wrong_auto],
        "decisions": dict(Counter(r.decision for r in results)),
        "lookalike_confusions": look,
        "other_confusions": {
            f"{a} -> {b}": v
            for (a, b), v in sorted(confusions.items())
            if tuple(sorted((a, b))) not in pairs
        },
    }


def new_pipeline(device: str = "cpu", calibration_path: str | None = None) -> Pipeline:
    """A pipeline with an in-memory gallery holding the whole catalog (registered via the API)."""
    torch.manual_seed(0)
    p = Pipeline.load(device, None, calibration_path=calibration_path)
    register_catalog(p)
    return p
