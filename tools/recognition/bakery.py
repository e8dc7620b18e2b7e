"""Run the pipeline over generated bakery splits: shared by calibration, evaluation and tests.

Products enter the gallery only through `Pipeline.register` (the registration endpoint's path), from
the reference photos of the `references` seed; trays come from a split's own seed.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from ai.recognition.items import box_iou
from ai.recognition.pipeline import Pipeline
from fixtures.bakery import (
    LOOKALIKE_PAIRS,
    SEEDS,
    catalog_skus,
    make_background,
    make_reference,
    make_tray,
)
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


# worker processes: at most two, the machine's other users need the rest
WORKERS = min(os.cpu_count() or 1, int(os.environ.get("BAKERY_WORKERS", "2")))


def one_thread() -> None:
    """Fitting and evaluation run torch on one intra-op thread: the ops are small, and two
    OpenMP threads spinning on a busy 2-core machine cost 24x the CPU time (measured: 1.2 s
    instead of 0.05 s per registered reference photo)."""
    torch.set_num_threads(1)


def register_catalog(
    p: Pipeline,
    skus: list[str] | None = None,
    photos: int = 5,
    seed: int | None = None,
    family: str | None = None,
    counter: int = 0,
) -> None:
    """Register every product from its generated reference photos via the public API.

    family/counter: the photos are shot at that counter (the bakery's own tray and light).
    """
    seed = SEEDS["references"] if seed is None else seed
    products = skus or catalog_skus()
    jobs = [(seed, sku, k, family, counter) for sku in products for k in range(photos)]
    if WORKERS > 1 and len(jobs) >= 8:
        with ProcessPoolExecutor(WORKERS) as pool:
            shots = list(pool.map(_reference, jobs, chunksize=4))
    else:
        shots = [_reference(j) for j in jobs]
    for i, sku in enumerate(products):
        p.register(sku, [jpeg_to_image(j) for j in shots[i * photos : (i + 1) * photos]])


def _cached(kind: str, args: tuple, draw):
    """Draw once per argument tuple when BAKERY_CACHE names a folder (drawing a tray takes ten
    times longer than recognizing it: refits and evaluations re-read what they drew before)."""
    folder = os.environ.get("BAKERY_CACHE")
    if not folder:
        return draw(*args)
    key = hashlib.sha256(repr((kind, args)).encode()).hexdigest()[:24]
    path = Path(folder) / f"{kind}-{key}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())  # noqa: S301 (our own folder, written below)
    out = draw(*args)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(pickle.dumps(out))
    os.replace(tmp, path)
    return out


def _reference(args: tuple) -> bytes:
    return _cached("reference", args, make_reference)


def counter_id(family: str, counter: int) -> str:
    return f"{family}-{counter}"


def capture_counter(p: Pipeline, family: str, counter: int, frames: int = 2) -> str:
    """Capture the counter's empty tray through the public API; its counter id.

    A refused capture is taken again (other frames), as staff would, up to three times.
    """
    cid = counter_id(family, counter)
    for attempt in range(3):
        ks = range(attempt * frames, (attempt + 1) * frames)
        shots = [make_background(SEEDS["references"], family, counter, k) for k in ks]
        try:
            p.capture_background(cid, [jpeg_to_image(j) for j in shots])
            return cid
        except ValueError as refused:
            print(f"  {cid}: capture refused ({refused}); taking it again", flush=True)
    raise SystemExit(f"{cid}: the empty tray could not be captured")


def _tray(args: tuple) -> Tray:
    return _cached("tray", (*args[:2], tuple(args[2]), *args[3:]), _draw_tray)


def _draw_tray(seed: int, i: int, skus: tuple, family: str | None, counter: int) -> Tray:
    return make_tray(seed, i, list(skus), family=family, counter=counter)


def generate_trays(
    seed: int, indices: range, skus: list[str], family: str | None = None, counter: int = 0
) -> Iterator[Tray]:
    """The trays `indices` of split `seed` at a counter, in order, drawn in worker processes.

    Drawing a tray takes about a second, ten times longer than recognizing it, so calibration
    and evaluation spread the drawing over worker processes while the caller recognizes.
    """
    jobs = [(seed, i, skus, family, counter) for i in indices]
    if WORKERS <= 1 or len(indices) < 4:
        yield from (_tray(j) for j in jobs)
        return
    with ProcessPoolExecutor(WORKERS) as pool:
        yield from pool.map(_tray, jobs, chunksize=2)


def true_item(tray: Tray, frame: int, box: Sequence[float]) -> tuple[int, float]:
    """The tray's item whose true box in `frame` overlaps `box` (frame pixels) most, and the IoU."""
    overlaps = [box_iou(box, tray.boxes[j][frame]) for j in range(len(tray.poses))]
    k = max(range(len(overlaps)), key=overlaps.__getitem__)
    return k, overlaps[k]


def segmentation_right(tray: Tray, d: dict, n_frames: int) -> bool:
    """Every frame: as many regions as items, each on its own item with box IoU >= 0.5."""
    for f in range(n_frames):
        rows = [i for i, fr in enumerate(d["frame"]) if fr == f]
        if len(rows) != len(tray.poses):
            return False
        seen = set()
        for i in rows:
            k, iou = true_item(tray, f, frame_box(d["boxes"][i], d["sizes"][f], d["seg_size"]))
            if iou < 0.5 or k in seen:
                return False
            seen.add(k)
    return True


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
    excluded: str | None = None  # a product on the tray that was left out of the candidates

    @property
    def exact(self) -> bool:
        return self.pred == self.truth and not self.has_unknown and self.excluded is None

    @property
    def missing(self) -> bool:
        """Fewer items answered than lie on the tray, or a product on it was no candidate
        (an item answered as another product is a wrong answer, not a missing one)."""
        return self.excluded is not None or sum(self.pred.values()) < sum(self.truth.values())


def run_split(
    p: Pipeline,
    seed: int,
    n: int,
    *,
    exclude_one: bool = False,
    start: int = 0,
    skus: list[str] | None = None,
    family: str | None = None,
    counter: int = 0,
    counter_ids: tuple[str | None, ...] = (None,),
) -> dict[str | None, list[TrayResult]]:
    """Recognize trays start..start+n-1 of split `seed` at a counter, all `skus` as candidates.

    exclude_one: drop one product on each tray from the candidates (the tray must not be AUTO).
    counter_ids: each tray is recognized once per entry (None: without the counter's capture).
    """
    skus = skus or catalog_skus()
    out: dict[str | None, list[TrayResult]] = {c: [] for c in counter_ids}
    indices = range(start, start + n)
    trays = generate_trays(seed, indices, skus, family, counter)
    for i, tray in zip(indices, trays, strict=True):
        cands = skus
        truth = tray.counts
        gone = None
        if exclude_one:
            gone = sorted(truth)[i % len(truth)]
            cands = [s for s in skus if s != gone]
        frames = tray.frames()
        for cid in counter_ids:
            ans = p.recognize(frames, cands, top_k=3, counter_id=cid)
            out[cid].append(_result(tray, ans, gone))
    return out


def _result(tray: Tray, ans: dict, gone: str | None) -> TrayResult:
    pred = {it["sku"]: it["count"] for it in ans["items"] if it["sku"] is not None}
    conf = []
    for it in ans["items"]:
        for b in it["boxes"]:
            if b["frame"] != 0:
                continue
            k, iou = true_item(tray, 0, b["box"])
            if iou >= 0.5 and tray.poses[k].sku != it["sku"]:
                conf.append((tray.poses[k].sku, str(it["sku"])))
    return TrayResult(
        tray.tray_id,
        tray.counts,
        pred,
        any(it["sku"] is None for it in ans["items"]),
        ans["decision"],
        ans["reason"],
        conf,
        ans["timings_ms"],
        gone,
    )


# what sent a tray to staff, by the words of Pipeline.postprocess's reason
REASON_KINDS = (
    ("no item explains", "leftover foreground"),
    ("a fragment", "region too small"),
    ("touching items not separated", "region too large"),
    ("not seen in every frame", "item missing in a frame"),
    ("size differs between the frames", "size differs across frames"),
    ("frames disagree", "frames disagree on counts"),
    ("looks more like", "neighbour looks closer"),
    ("below the AUTO threshold", "low confidence"),
    ("matched none", "unknown item"),
    ("without reference photos", "unregistered candidate"),
    ("no items found", "nothing found"),
    ("light's colour differs", "light colour changed"),
    ("above the AUTO threshold", "auto"),
)


def reason_kind(reason: str) -> str:
    """The kind of a decision's reason, for tallies (a reason not listed: its words, numbers
    left out, so that a new reason still adds up)."""
    kind = next((kind for words, kind in REASON_KINDS if words in reason), None)
    return kind or re.sub(r"[\d.]+", "#", reason)[:60]


def metrics(results: list[TrayResult]) -> dict:
    """RPC metrics (cAcc, ACD, mCIoU) and the payment metrics (automation, wrong-AUTO,
    missing-product AUTO: trays decided AUTO although an item on them is not in the answer)."""
    n = max(1, len(results))
    skus = sorted({s for r in results for s in (*r.truth, *r.pred)})
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
        "missing_auto": sum(r.missing for r in auto),
        "wrong_auto_trays": [r.tray_id for r in wrong_auto],
        "decisions": dict(Counter(r.decision for r in results)),
        "not_auto_because": dict(
            Counter(reason_kind(r.reason) for r in results if r.decision != "AUTO").most_common()
        ),
        "lookalike_confusions": look,
        "other_confusions": {
            f"{a} -> {b}": v
            for (a, b), v in sorted(confusions.items())
            if tuple(sorted((a, b))) not in pairs
        },
    }


def new_pipeline(
    device: str = "cpu",
    calibration_path: str | None = None,
    *,
    skus: list[str] | None = None,
    family: str | None = None,
    counter: int = 0,
    photos: int = 5,
) -> Pipeline:
    """A pipeline with an in-memory gallery holding `skus` (default: the catalog), registered
    through the API from photos shot at the counter."""
    torch.manual_seed(0)
    p = Pipeline.load(device, None, calibration_path=calibration_path)
    register_catalog(p, skus, photos, family=family, counter=counter)
    return p
