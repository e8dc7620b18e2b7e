"""The recognition pipeline: load once, then preprocess -> inference -> postprocess per tray.

p = Pipeline.load(device=None, gallery_path="var/gallery.pt")
p.register("BAGEL-PLAIN", [photo, ...])                  # <= 5 photos, no retraining
answer = p.recognize([frame0, frame1], candidate_skus, top_k=3)   # docs/ai-contract.md shape
p.learn_from_review([frame0, frame1], [{"sku": "BAGEL-PLAIN", "count": 2}, ...])
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .embed import CROP_SIZE, builtin_embedder, crop_items, white_balance
from .gallery import MAX_REFERENCE_PHOTOS, Gallery, Storage, storage_for
from .segment import SegmentParams, segment

WORK_WIDTH = 640  # frames are reduced to this width; segmentation runs at half of it
ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
DEFAULT_CALIBRATION = ARTEFACTS / "calibration.json"
VERSION = "rec-1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Calibration:
    """Decision thresholds fitted on the calibration split (python -m ai.recognition.calibrate)."""

    unknown_similarity: float  # best candidate score below this: the item matched no candidate
    auto_confidence: float  # every item at or above this (and nothing else wrong): AUTO
    logit: tuple[float, float, float]  # confidence = sigmoid(a * top1 + b * margin + c)
    size_ratio: tuple[float, float]  # item area / its SKU's reference area must lie inside
    embedder_id: str
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            float(d["unknown_similarity"]),
            float(d["auto_confidence"]),
            tuple(float(x) for x in d["logit"]),  # type: ignore[arg-type]
            tuple(float(x) for x in d["size_ratio"]),  # type: ignore[arg-type]
            str(d["embedder_id"]),
            str(path),
        )

    def confidence(self, top1: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
        a, b, c = self.logit
        return torch.sigmoid(a * top1 + b * margin + c)


@dataclass
class Batch:
    """Preprocessed frames of one tray."""

    work: torch.Tensor  # (B, 3, H, W) working resolution, [0, 1]
    seg: torch.Tensor  # (B, 3, H/2, W/2)
    sizes: list[tuple[int, int]]  # original (width, height) per frame


@dataclass
class Raw:
    """What inference found: regions per frame and their embeddings."""

    frame: torch.Tensor  # (N,) frame index
    boxes: torch.Tensor  # (N, 4) segmentation pixels
    areas: torch.Tensor  # (N,) item area / frame area
    embeddings: torch.Tensor  # (N, D)
    crops: torch.Tensor  # (N, 4, S, S)
    scales: torch.Tensor  # (N,)
    seg_size: tuple[int, int]  # (h, w)
    timings: dict[str, float]


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


def pick_device(device: str | None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Pipeline:
    """Tray recognition: segmentation, embedding, gallery matching, multi-frame fusion, decision."""

    def __init__(
        self,
        device: torch.device,
        embedder: torch.nn.Module,
        embedder_id: str,
        gallery: Gallery,
        calibration: Calibration,
        gallery_url: str | None = None,
        storage: Storage | None = None,
        seg_params: SegmentParams | None = None,
    ) -> None:
        self.device = device
        self.embedder = embedder.to(device).eval()
        self.embedder_id = embedder_id
        self.gallery = gallery
        self.calibration = calibration
        self.gallery_url = gallery_url
        self.storage = storage
        self.seg_params = seg_params or SegmentParams()
        self._matrix: tuple[torch.Tensor, list[str], torch.Tensor] | None = None
        self.last_detail: dict = {}

    # ---------------------------------------------------------------- load once
    @classmethod
    def load(
        cls,
        device: str | None = None,
        gallery_path: str | None = None,
        *,
        calibration_path: str | Path | None = None,
        embedder_path: str | None = None,
        storage: Storage | None = None,
    ) -> Pipeline:
        """Load the embedder, calibration and gallery once (the service's lifespan calls this).

        device: "cpu", "cuda", "cuda:0"... or None for CUDA when visible, else CPU.
        gallery_path: a file path or gs:// URL; loaded when it exists, else an empty gallery that
            `register` fills and saves there. None keeps the gallery in memory only.
        embedder_path: a TorchScript embedder file (see embed.py for its contract) instead of the
            built-in one; gs:// URLs are read through `storage`.
        """
        dev = pick_device(device)
        if embedder_path:
            data = storage_for(embedder_path, storage).read(embedder_path)
            if data is None:
                raise FileNotFoundError(embedder_path)
            import io  # noqa: PLC0415

            embedder = torch.jit.load(io.BytesIO(data), map_location=dev)
            import hashlib  # noqa: PLC0415

            embedder_id = "torchscript-" + hashlib.sha256(data).hexdigest()[:12]
        else:
            embedder, embedder_id = builtin_embedder()
        calibration = Calibration.load(calibration_path or DEFAULT_CALIBRATION)
        if calibration.embedder_id != embedder_id:
            # thresholds fitted on another embedder's scores do not mean the same here
            log.warning(
                "calibration %s was fitted for embedder %s, not %s: refit it with "
                "python -m ai.recognition.calibrate before trusting AUTO decisions",
                calibration.source,
                calibration.embedder_id,
                embedder_id,
            )
        gallery = Gallery(embedder_id)
        if gallery_path:
            data = storage_for(gallery_path, storage).read(gallery_path)
            if data is not None:
                gallery = Gallery.from_bytes(data)
        p = cls(dev, embedder, embedder_id, gallery, calibration, gallery_path, storage)
        if gallery.embedder_id != embedder_id and len(gallery):
            p._reembed_gallery()
        return p

    @property
    def model_version(self) -> str:
        g = self.gallery
        return f"{VERSION}/{self.embedder_id}/gallery-{len(g)}-{g.fingerprint()}"

    @property
    def device_name(self) -> str:
        return str(self.device) if self.device.type != "cuda" else f"cuda:{self.device.index or 0}"

    # ---------------------------------------------------------------- phases
    def preprocess(self, frames: list[Image.Image]) -> Batch:
        """PIL RGB frames (same size) -> working and segmentation tensors on the device.

        A frame the service decoded reduced carries its real size in `info["full_size"]`: boxes
        are answered in those pixels.
        """
        if not frames:
            raise ValueError("at least one frame is needed")
        w0, h0 = frames[0].size
        ww = WORK_WIDTH
        wh = 2 * round(ww * h0 / w0 / 2)
        arrs = []
        for im in frames:
            im = im.convert("RGB") if im.mode != "RGB" else im
            if im.size == (2 * ww, 2 * wh):
                im = im.reduce(2)
            elif im.size != (ww, wh):
                im = im.resize((ww, wh), Image.Resampling.BILINEAR, reducing_gap=2.0)
            arrs.append(np.asarray(im))
        x = torch.from_numpy(np.stack(arrs)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        sizes = [tuple(im.info.get("full_size", im.size)) for im in frames]
        return Batch(x, F.avg_pool2d(x, 2), sizes)

    @torch.inference_mode()
    def inference(self, batch: Batch) -> Raw:
        """Segment the items, crop them and embed them."""
        t = {}
        t0 = time.perf_counter()
        reg = segment(batch.seg, self.seg_params)
        fg = (reg.labels > 0).to(batch.seg.dtype)
        gain = white_balance(batch.seg, fg)
        t["segment"] = _ms(t0)
        t0 = time.perf_counter()
        seg_size = (batch.seg.shape[2], batch.seg.shape[3])
        crops, scales = crop_items(batch.work, gain, reg.labels, reg.frame, reg.boxes, seg_size)
        emb = self.embedder(crops, scales) if len(crops) else crops.new_zeros(0, 1)
        t["embed"] = _ms(t0)
        areas = reg.areas.to(batch.seg.dtype) / float(seg_size[0] * seg_size[1])
        return Raw(reg.frame.cpu(), reg.boxes.cpu(), areas.cpu(), emb, crops, scales, seg_size, t)

    def postprocess(
        self, raw: Raw, batch: Batch, candidate_skus: list[str], top_k: int = 3
    ) -> dict:
        """Match against the candidates' gallery, fuse the frames and decide."""
        t0 = time.perf_counter()
        cal = self.calibration
        n_frames = len(batch.sizes)
        cands = [s for s in dict.fromkeys(candidate_skus) if self.gallery.count(s) > 0]
        unregistered = [s for s in dict.fromkeys(candidate_skus) if s not in set(cands)]
        scores = self._scores(raw.embeddings, cands)  # (N, K) on CPU
        timings = dict(raw.timings)
        timings["match"] = _ms(t0)
        t0 = time.perf_counter()
        n = scores.shape[0]
        k = len(cands)
        # per-frame labels decide whether the frames agree on the counts; for the answer and its
        # confidence, the scores of one physical item are averaged over the frames that see it
        frame_best = scores.argmax(1) if k else torch.zeros(n, dtype=torch.long)
        groups = _correspond(raw.frame, raw.boxes, raw.areas, n_frames, raw.seg_size[1])
        single = scores
        scores = scores.clone()
        for g in groups:
            if len(g) > 1:
                scores[g] = single[g].mean(0)
        if k:
            top = scores.topk(min(3, k), dim=1)
            top1 = top.values[:, 0]
            top2 = top.values[:, 1] if k > 1 else torch.zeros(n)
            top3 = top.values[:, 2] if k > 2 else torch.zeros(n)
            best = top.indices[:, 0]
        else:
            top1 = top2 = top3 = torch.zeros(n)
            best = torch.zeros(n, dtype=torch.long)
        conf = cal.confidence(top1, top1 - top2)
        # unknown: no candidate is close enough, or the item looks more like a gallery product the
        # store does not offer (e.g. a sesame bagel when only plain bagels are candidates)
        others = [s for s in self.gallery.sku_list if s not in set(cands)]
        rival = (
            self._scores(raw.embeddings, others).max(1).values if others and n else torch.zeros(n)
        )
        for g in groups:
            if len(g) > 1:
                rival[g] = rival[g].mean()
        unknown = (top1 < cal.unknown_similarity) | (rival > top1)
        labels = [None if bool(unknown[i]) else cands[int(best[i])] for i in range(n)]
        ratio = self._size_ratio(raw.areas, labels)
        lo, hi = cal.size_ratio
        size_ok = [lo <= r <= hi for r in ratio]
        frame_labels = [None if bool(unknown[i]) else cands[int(frame_best[i])] for i in range(n)]
        per_frame = [
            Counter(frame_labels[i] for i in range(n) if int(raw.frame[i]) == f)
            for f in range(n_frames)
        ]
        keys = [tuple(sorted((str(s), c) for s, c in cnt.items())) for cnt in per_frame]
        votes = Counter(keys)
        best_key = max(votes, key=lambda kk: (votes[kk], -keys.index(kk)))
        primary = keys.index(best_key)
        items = self._items(raw, batch, labels, scores, conf, cands, primary, top_k)
        agree = len(votes) == 1
        min_conf = float(conf.min()) if n else 0.0
        if n == 0:
            decision, reason = "REVIEW", "no items found on the tray"
        elif any(s is None for s in labels):
            decision = "UNKNOWN"
            reason = f"{sum(s is None for s in labels)} item crop(s) matched none of the candidates"
        elif unregistered:
            decision = "REVIEW"
            reason = (
                "candidate products without reference photos could be on the tray: "
                + ", ".join(unregistered[:5])
            )
        elif not agree:
            decision = "REVIEW"
            reason = "frames disagree on the counts: " + " vs ".join(
                ", ".join(f"{s}x{c}" for s, c in kk) or "nothing" for kk in keys
            )
        elif not all(size_ok):
            decision, reason = (
                "REVIEW",
                "an item's size is unlike its product's references (touching items not separated?)",
            )
        elif min_conf < cal.auto_confidence:
            decision = "REVIEW"
            reason = (
                f"lowest item confidence {min_conf:.3f} is below the AUTO threshold "
                f"{cal.auto_confidence:.3f}"
            )
        else:
            decision = "AUTO"
            reason = "all items matched with confidence above the AUTO threshold"
        timings["fuse"] = _ms(t0)
        self.last_detail = {  # per-item internals, read by the calibration script
            "frame": raw.frame.tolist(),
            "boxes": raw.boxes.tolist(),
            "labels": labels,
            "best": [cands[int(j)] if k else None for j in best.tolist()],
            "top1": top1.tolist(),
            "top2": top2.tolist(),
            "top3": top3.tolist(),
            "rival": rival.tolist(),
            "size_ok": size_ok,
            "size_ratio": ratio,
            "agree": agree,
            "seg_size": raw.seg_size,
            "sizes": batch.sizes,
        }
        return {
            "decision": decision,
            "reason": reason,
            "items": items,
            "model_version": self.model_version,
            "device": self.device_name,
            "timings_ms": timings,
        }

    def recognize(
        self, frames: list[Image.Image], candidate_skus: list[str], top_k: int = 3
    ) -> dict:
        """Recognize one tray from 1-3 frames; the answer has the docs/ai-contract.md shape."""
        t_all = time.perf_counter()
        t0 = time.perf_counter()
        batch = self.preprocess(frames)
        pre = _ms(t0)
        raw = self.inference(batch)
        out = self.postprocess(raw, batch, candidate_skus, top_k)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        out["timings_ms"] = {"preprocess": pre, **out["timings_ms"], "total": _ms(t_all)}
        return out

    # ---------------------------------------------------------------- matching helpers
    def _gallery_matrix(self) -> tuple[torch.Tensor, list[str], torch.Tensor]:
        if self._matrix is None:
            skus = self.gallery.sku_list
            index = {s: i for i, s in enumerate(skus)}
            col = torch.tensor([index[s] for s in self.gallery.skus], dtype=torch.long)
            self._matrix = (self.gallery.embeddings.to(self.device), skus, col)
        return self._matrix

    def _scores(self, emb: torch.Tensor, cands: list[str]) -> torch.Tensor:
        """(N, K) best cosine similarity of each item to each candidate's gallery entries."""
        n = emb.shape[0]
        if n == 0 or not cands:
            return torch.zeros(n, len(cands))
        g, skus, col = self._gallery_matrix()
        sims = (emb @ g.T).cpu()  # (N, M)
        index = {s: i for i, s in enumerate(skus)}
        per_sku = torch.full((n, len(skus)), -1.0).scatter_reduce(
            1, col.expand(n, -1), sims, "amax", include_self=True
        )
        return per_sku[:, [index[s] for s in cands]].clamp(0, 1)

    def _size_ratio(self, areas: torch.Tensor, labels: list[str | None]) -> list[float]:
        """Each item's area over the median area of its product's gallery crops (1.0: unknown)."""
        out = []
        for a, s in zip(areas.tolist(), labels, strict=True):
            ref = [
                x
                for x, k in zip(self.gallery.areas.tolist(), self.gallery.skus, strict=True)
                if k == s
            ]
            out.append(a / float(np.median(ref)) if s is not None and ref else 1.0)
        return out

    def _items(
        self,
        raw: Raw,
        batch: Batch,
        labels: list[str | None],
        scores: torch.Tensor,
        conf: torch.Tensor,
        cands: list[str],
        primary: int,
        top_k: int,
    ) -> list[dict]:
        n = len(labels)
        sh, sw = raw.seg_size

        def box(i: int) -> dict:
            f = int(raw.frame[i])
            w, h = batch.sizes[f]
            b = raw.boxes[i].tolist()
            return {
                "frame": f,
                "box": [
                    round(b[0] * w / sw),
                    round(b[1] * h / sh),
                    round(b[2] * w / sw),
                    round(b[3] * h / sh),
                ],
            }

        def candidates(rows: list[int]) -> list[dict]:
            if not cands or not rows:
                return []
            mean = scores[rows].mean(0)
            v, ix = mean.topk(min(top_k, len(cands)))
            return [
                {"sku": cands[int(j)], "score": round(float(s), 4)}
                for s, j in zip(v, ix, strict=True)
            ]

        items = []
        primary_counts = Counter(labels[i] for i in range(n) if int(raw.frame[i]) == primary)
        for sku in sorted(s for s in primary_counts if s is not None):
            rows = [i for i in range(n) if labels[i] == sku]
            items.append(
                {
                    "sku": sku,
                    "count": primary_counts[sku],
                    "confidence": round(float(conf[rows].min()), 4),
                    "candidates": candidates(rows),
                    "boxes": [box(i) for i in rows],
                }
            )
        for i in range(n):
            if labels[i] is None and int(raw.frame[i]) == primary:
                items.append(
                    {
                        "sku": None,
                        "count": 1,
                        "confidence": round(float(conf[i]), 4),
                        "candidates": candidates([i]),
                        "boxes": [box(i)],
                    }
                )
        return items

    # ---------------------------------------------------------------- gallery updates
    def _embed_frames(self, frames: list[Image.Image]) -> tuple[Raw, Batch]:
        batch = self.preprocess(frames)
        return self.inference(batch), batch

    def register(self, sku: str, images: list[Image.Image], replace: bool = False) -> dict:
        """Add reference photos of `sku` (<= 5 per product, one item per photo): no retraining.

        Each photo shows the product alone on the tray; its largest item is the reference.
        replace=True drops the product's earlier reference photos first.
        """
        if not sku:
            raise ValueError("sku is required")
        if not images:
            raise ValueError("at least one reference photo is needed")
        existing = 0 if replace else self.gallery.count(sku, "reference")
        if existing + len(images) > MAX_REFERENCE_PHOTOS:
            raise ValueError(
                f"at most {MAX_REFERENCE_PHOTOS} reference photos per product "
                f"({existing} registered, {len(images)} given)"
            )
        found: list[tuple[Raw, int]] = []
        for k, im in enumerate(images):
            raw, _ = self._embed_frames([im])
            if raw.embeddings.shape[0] == 0:
                raise ValueError(f"no item found in reference photo {k}")
            found.append((raw, int(raw.areas.argmax())))
        if replace:
            self.gallery.remove(
                [
                    not (s == sku and o == "reference")
                    for s, o in zip(self.gallery.skus, self.gallery.sources, strict=True)
                ]
            )
        for raw, i in found:
            self.gallery.add(
                sku,
                "reference",
                raw.embeddings[i : i + 1],
                raw.crops[i : i + 1],
                raw.scales[i : i + 1],
                raw.areas[i : i + 1],
            )
        self._changed()
        return {
            "sku": sku,
            "added": len(found),
            "references": self.gallery.count(sku, "reference"),
            "gallery_size": len(self.gallery),
            "model_version": self.model_version,
        }

    def learn_from_review(self, frames: list[Image.Image], corrected_items: list[dict]) -> dict:
        """Add the item crops of a resolved review to the gallery under their corrected SKUs.

        corrected_items: [{"sku": str, "count": int, "boxes"?: [{"frame": f, "box": [x0, ...]}]}]
        With boxes, each box picks the segmented item it overlaps most (IoU >= 0.5). Without boxes,
        a frame whose number of segmented items equals the corrected total is used: its items are
        assigned to the corrected SKUs by best similarity within the corrected counts.
        """
        raw, batch = self._embed_frames(frames)
        n = raw.embeddings.shape[0]
        sh, sw = raw.seg_size
        picks: list[tuple[int, str]] = []
        boxed = [it for it in corrected_items if it.get("boxes")]
        for it in boxed:
            for b in it["boxes"]:
                f = int(b["frame"])
                w, h = batch.sizes[f]
                x0, y0, x1, y1 = b["box"]
                q = [x0 * sw / w, y0 * sh / h, x1 * sw / w, y1 * sh / h]
                best, best_iou = -1, 0.5
                for i in range(n):
                    if int(raw.frame[i]) != f:
                        continue
                    if (iou := box_iou(q, raw.boxes[i].tolist())) >= best_iou:
                        best, best_iou = i, iou
                if best >= 0:
                    picks.append((best, it["sku"]))
        unboxed = [it for it in corrected_items if not it.get("boxes")]
        used_frames = []
        if unboxed and not boxed:
            want = Counter({it["sku"]: int(it.get("count", 1)) for it in unboxed})
            total = sum(want.values())
            skus = list(want)
            known = [s for s in skus if self.gallery.count(s) > 0]
            scores = self._scores(raw.embeddings, known) if known else torch.zeros(n, 0)
            for f in range(len(frames)):
                rows = [i for i in range(n) if int(raw.frame[i]) == f]
                if len(rows) != total:
                    continue
                used_frames.append(f)
                left = Counter(want)
                pairs = sorted(
                    ((float(scores[i, j]), i, known[j]) for i in rows for j in range(len(known))),
                    reverse=True,
                )
                done: set[int] = set()
                for _, i, s in pairs:
                    if i not in done and left[s] > 0:
                        picks.append((i, s))
                        done.add(i)
                        left[s] -= 1
                rest = [i for i in rows if i not in done]
                for s in skus:  # products with no gallery entries yet take what is left
                    while left[s] > 0 and rest:
                        picks.append((rest.pop(0), s))
                        left[s] -= 1
        for i, s in picks:
            self.gallery.add(
                s,
                "review",
                raw.embeddings[i : i + 1],
                raw.crops[i : i + 1],
                raw.scales[i : i + 1],
                raw.areas[i : i + 1],
            )
        for s in {s for _, s in picks}:
            self.gallery.trim_learned(s)
        if picks:
            self._changed()
        return {
            "added": len(picks),
            "skus": sorted({s for _, s in picks}),
            "frames_used": used_frames
            if unboxed and not boxed
            else sorted({int(raw.frame[i]) for i, _ in picks}),
            "gallery_size": len(self.gallery),
            "model_version": self.model_version,
        }

    def save_gallery(self, url: str | None = None) -> None:
        """Persist the gallery to `url` (default: where it was loaded from)."""
        url = url or self.gallery_url
        if url:
            storage_for(url, self.storage).write(url, self.gallery.to_bytes())

    def _changed(self) -> None:
        self._matrix = None
        self.save_gallery()

    @torch.inference_mode()
    def _reembed_gallery(self) -> None:
        """The gallery was built with another embedder: embed its stored crops again."""
        g = self.gallery
        crops = g.crops.float().to(self.device) / 255.0
        g.embeddings = self.embedder(crops, g.scales.to(self.device)).float().cpu()
        g.embedder_id = self.embedder_id
        self._matrix = None


def _correspond(
    frame: torch.Tensor,
    boxes: torch.Tensor,
    areas: torch.Tensor,
    n_frames: int,
    width: int,
    max_dist: float = 0.07,
) -> list[list[int]]:
    """Group the regions that are the same physical item in the frames (frame 0 as anchor).

    The viewpoints differ slightly: after removing the median shift, each region of frame f is
    paired with the nearest unpaired region of frame 0 (closest pairs first) when the centres
    are within max_dist of the frame width and the areas within a factor 1.6.
    """
    n = int(frame.numel())
    if n == 0:
        return []
    c = (boxes[:, :2] + boxes[:, 2:]).float() / 2
    anchor = [i for i in range(n) if int(frame[i]) == 0]
    groups = {i: [i] for i in anchor}
    rest: list[list[int]] = []
    for f in range(1, n_frames):
        other = [j for j in range(n) if int(frame[j]) == f]
        if not anchor or not other:
            rest += [[j] for j in other]
            continue
        a, b = c[anchor], c[other]
        d0 = torch.cdist(a, b)
        shift = (b[d0.argmin(1)] - a).median(0).values
        d = torch.cdist(a + shift, b)
        used_a: set[int] = set()
        used_b: set[int] = set()
        for flat in torch.argsort(d.reshape(-1)).tolist():
            ia, ib = divmod(flat, len(other))
            if float(d[ia, ib]) > max_dist * width:
                break
            if ia in used_a or ib in used_b:
                continue
            r = float(areas[other[ib]] / areas[anchor[ia]].clamp_min(1e-9))
            if 1 / 1.6 <= r <= 1.6:
                used_a.add(ia)
                used_b.add(ib)
                groups[anchor[ia]].append(other[ib])
        rest += [[other[j]] for j in range(len(other)) if j not in used_b]
    return list(groups.values()) + rest


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


__all__ = ["CROP_SIZE", "Calibration", "Pipeline"]
