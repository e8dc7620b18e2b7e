"""The recognition pipeline: load once, then preprocess -> inference -> postprocess per tray.

p = Pipeline.load(device=None, gallery_path="var/gallery.pt")
p.register("BAGEL-PLAIN", [photo, ...])                  # <= 5 photos, no retraining
answer = p.recognize([frame0, frame1], candidate_skus, top_k=3)   # docs/ai-contract.md shape
p.learn_from_review([frame0, frame1], [{"sku": "BAGEL-PLAIN", "count": 2}, ...])
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ai.recognizer import PhotoOutcome, TooManyPhotos

from . import cuts
from .background import (
    Capture,
    TrayModel,
    estimate,
    from_capture,
    measure_capture,
    texture_level,
)
from .embed import CROP_SIZE, builtin_embedder, crop_items, white_balance
from .gallery import MAX_REFERENCE_PHOTOS, Gallery, Storage, now_iso, storage_for
from .items import box_iou, closer_to_a_neighbour, correspond, frame_box_text, spreads
from .light import LIGHT_SHIFT, light_range, light_shift, shift_reason, tray_light
from .segment import SegmentParams, grouped, reconstruct, segment

MAX_CAPTURE_FRAMES = 4
MAX_CAPTURE_SPREAD = 0.06  # mean relative difference between an empty tray's frames
REFERENCE_MIN_AREA = 0.0015  # a reference item covers at least this share of the frame
REFERENCE_OTHERS = 0.25  # another region this large (share of the item's) makes it ambiguous
WORK_WIDTH = 640  # frames are reduced to this width; segmentation runs at half of it
ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
DEFAULT_CALIBRATION = ARTEFACTS / "calibration.json"
VERSION = "rec-1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Calibration:
    """Decision thresholds fitted on the calibration split (tools.recognition.calibrate)."""

    unknown_similarity: float  # best candidate score below this: the item matched no candidate
    auto_confidence: float  # every item at or above this (and nothing else wrong): AUTO
    # confidence = sigmoid(a * (top1 - typical) + b * margin + c + d * agreement), see confidence
    logit: tuple[float, float, float, float]
    size_ratio: tuple[float, float]  # item area / its SKU's reference area must lie inside
    embedder_id: str
    # the safety net's limits, fitted on the fitting families' calibration trays (see
    # tools.recognition.calibrate for the rules): unexplained foreground pixels in one frame
    # (segmentation resolution), and the largest/smallest area of one item across frames
    leftover_area: float
    frame_area_spread: float
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
            float(d["leftover_area"]),
            float(d["frame_area_spread"]),
            str(path),
        )

    def confidence(
        self, over: torch.Tensor, margin: torch.Tensor, agreement: torch.Tensor
    ) -> torch.Tensor:
        """Per item: how likely its label is right, from its best score over what a right match
        scores at this counter (`over`: top1 minus the product's typical similarity, see
        Pipeline.typical_similarity), its margin over the runner-up, and the share of its frames
        whose own best match is that label (`agreement`)."""
        a, b, c, d = self.logit
        return torch.sigmoid(a * over + b * margin + c + d * agreement)


@dataclass
class Batch:
    """Preprocessed frames of one tray."""

    work: torch.Tensor  # (B, 3, H, W) working resolution, [0, 1]
    seg: torch.Tensor  # (B, 3, H/2, W/2)
    sizes: list[tuple[int, int]]  # original (width, height) per frame
    capture: Capture | None = None  # the counter's empty tray, when it was captured


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
    leftover: torch.Tensor | None = None  # (B,) unexplained foreground pixels per frame
    leftover_boxes: torch.Tensor | None = None  # (B, 4) segmentation pixels
    tray_source: str = "estimate"
    # groups of touching regions embedded whole, and the rows of each group's pieces (see
    # segment.touching): postprocess merges a group or keeps its pieces (settle_cuts)
    wholes: Raw | None = None
    members: list[list[int]] = field(default_factory=list)
    lights: torch.Tensor | None = None  # (B, 3) the light's colour on each frame's tray


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
        # what is derived from each gallery, kept per gallery so that switching stores never
        # reads one store's matching state against another's gallery
        self._derived: dict[int, _Derived] = {}
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
            import io

            embedder = torch.jit.load(io.BytesIO(data), map_location=dev)
            import hashlib

            embedder_id = "torchscript-" + hashlib.sha256(data).hexdigest()[:12]
        else:
            embedder, embedder_id = builtin_embedder()
        calibration = Calibration.load(calibration_path or DEFAULT_CALIBRATION)
        if calibration.embedder_id != embedder_id:
            # thresholds fitted on another embedder's scores do not mean the same here
            log.warning(
                "calibration %s was fitted for embedder %s, not %s: refit it with "
                "python -m tools.recognition.calibrate before trusting AUTO decisions",
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
    def preprocess(self, frames: list[Image.Image], counter_id: str | None = None) -> Batch:
        """PIL RGB frames (same size) -> working and segmentation tensors on the device.

        A frame the service decoded reduced carries its real size in `info["full_size"]`: boxes
        are answered in those pixels. counter_id: the counter whose captured empty tray the
        segmentation compares with (an unknown counter: the tray is estimated from the frames).
        """
        if not frames:
            raise ValueError("at least one frame is needed")
        sizes = [tuple(im.info.get("full_size", im.size)) for im in frames]
        if len(set(sizes)) > 1:
            shown = ", ".join(f"{w}x{h}" for w, h in dict.fromkeys(sizes))
            raise ValueError(
                f"the frames differ in size ({shown}): send the views of one counter camera"
            )
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
        return Batch(x, F.avg_pool2d(x, 2), sizes, self.capture(counter_id))

    def capture(self, counter_id: str | None) -> Capture | None:
        """The counter's empty-tray capture, or None when it has none."""
        if counter_id is None or counter_id not in self.gallery.backgrounds:
            return None
        captures = self._now.captures
        if counter_id not in captures:
            captures[counter_id] = Capture.from_state(self.gallery.backgrounds[counter_id])
        return captures[counter_id]

    @torch.inference_mode()
    def inference(self, batch: Batch) -> Raw:
        """Segment the items, crop them and embed them."""
        t = {}
        t0 = time.perf_counter()
        tray, texture = self._tray(batch)
        reg = segment(batch.seg, self.seg_params, tray, texture)
        gain = white_balance(tray.colour)
        t["segment"] = _ms(t0)
        t0 = time.perf_counter()
        solid = reg.solid if reg.solid is not None else reg.labels
        found = self._embed(batch, gain, solid, reg.frame, reg.boxes, reg.areas)
        wholes = None
        if reg.members:
            wholes = self._embed(batch, gain, solid, *grouped(reg), groups=reg.members)
        t["embed"] = _ms(t0)
        return dataclasses.replace(
            found,
            timings=t,
            leftover=reg.leftover.cpu() if reg.leftover is not None else None,
            leftover_boxes=reg.leftover_boxes.cpu() if reg.leftover_boxes is not None else None,
            tray_source=tray.source,
            wholes=wholes,
            members=reg.members if wholes is not None else [],
            lights=tray_light(tray.colour),
        )

    @staticmethod
    def _tray(batch: Batch) -> tuple[TrayModel, torch.Tensor]:
        """The tray under the items (from the counter's capture, else estimated from the
        frames) and the frames' texture level."""
        texture = texture_level(batch.seg)
        if batch.capture is not None:
            return from_capture(batch.seg, batch.capture), texture
        return estimate(batch.seg, texture), texture

    def _embed(
        self,
        batch: Batch,
        gain: torch.Tensor,
        labels: torch.Tensor,
        frame: torch.Tensor,
        boxes: torch.Tensor,
        area_px: torch.Tensor,
        groups: list[list[int]] | None = None,
    ) -> Raw:
        """Crop and embed the regions of `labels` (region k + 1 per row k, or per row the
        regions `groups` lists, together) at working resolution; their areas as shares of the
        frame."""
        seg_size = (batch.seg.shape[2], batch.seg.shape[3])
        crops, scales = crop_items(batch.work, gain, labels, frame, boxes, seg_size, groups)
        emb = self.embedder(crops, scales) if len(crops) else crops.new_zeros(0, 1)
        areas = area_px.to(batch.seg.dtype) / float(seg_size[0] * seg_size[1])
        return Raw(frame.cpu(), boxes.cpu(), areas.cpu(), emb, crops, scales, seg_size, {})

    @torch.inference_mode()
    def embed_regions(
        self,
        batch: Batch,
        labels: torch.Tensor,
        frame: torch.Tensor,
        boxes: torch.Tensor,
        area_px: torch.Tensor,
    ) -> Raw:
        """Crop and embed given regions (labels (B, 1, h, w) at segmentation resolution, region
        k + 1 per row k) under the same tray model and white balance as `inference`: the
        evaluation's oracle mode feeds the true item outlines here, to measure the matching and
        the decision without the segmentation's errors."""
        t0 = time.perf_counter()
        tray, _ = self._tray(batch)
        gain = white_balance(tray.colour)
        found = self._embed(batch, gain, labels, frame, boxes, area_px)
        t = {"segment": 0.0, "embed": _ms(t0)}
        return dataclasses.replace(
            found, timings=t, tray_source=tray.source, lights=tray_light(tray.colour)
        )

    def postprocess(
        self, raw: Raw, batch: Batch, candidate_skus: list[str], top_k: int = 3
    ) -> dict:
        """Match against the candidates' gallery, fuse the frames and decide."""
        t0 = time.perf_counter()
        cal = self.calibration
        n_frames = len(batch.sizes)
        cands = [s for s in dict.fromkeys(candidate_skus) if self.gallery.count(s) > 0]
        unregistered = [s for s in dict.fromkeys(candidate_skus) if s not in set(cands)]
        raw = self.settle_cuts(raw, cands)
        scores = self._scores(raw.embeddings, cands)  # (N, K) on CPU
        timings = dict(raw.timings)
        timings["match"] = _ms(t0)
        t0 = time.perf_counter()
        n = scores.shape[0]
        k = len(cands)
        # per-frame labels decide whether the frames agree on the counts; for the answer and its
        # confidence, the scores of one physical item are averaged over the frames that see it
        frame_best = scores.argmax(1) if k else torch.zeros(n, dtype=torch.long)
        groups = correspond(raw.frame, raw.boxes, raw.areas, n_frames, raw.seg_size[1])
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
        # agreement: the share of an item's frames whose own best match is its fused label
        agreement = torch.ones(n)
        for g in groups:
            if len(g) > 1 and k:
                agreement[g] = (frame_best[g] == best[g[0]]).float().mean()
        if k:
            typical = self.typical_similarity(cands)
            second = top.indices[:, 1] if k > 1 else best
            over = top1 - typical[best]
            over2 = top2 - typical[second]
        else:
            over = over2 = torch.zeros(n)
        conf = cal.confidence(over, top1 - top2, agreement)
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
        shift = self._light_shift(raw)
        doubt = self._doubts(raw, groups, n_frames, ratio, labels, shift)
        closer, neighbour = closer_to_a_neighbour(raw, single, best, labels)
        if n == 0 and not doubt:
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
        elif doubt:
            decision, reason = "REVIEW", doubt
        elif not agree:
            decision = "REVIEW"
            reason = "frames disagree on the counts: " + " vs ".join(
                ", ".join(f"{s}x{c}" for s, c in kk) or "nothing" for kk in keys
            )
        elif neighbour:
            decision, reason = "REVIEW", neighbour
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
            "over": over.tolist(),
            "over2": over2.tolist(),
            "rival": rival.tolist(),
            "agreement": agreement.tolist(),
            "closer": closer,
            "leftover": raw.leftover.tolist() if raw.leftover is not None else [],
            "spreads": spreads(raw.areas, groups, n_frames),
            "size_ok": size_ok,
            "size_ratio": ratio,
            "agree": agree,
            "doubt": doubt,
            "light_shift": shift,
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
        self,
        frames: list[Image.Image],
        candidate_skus: list[str],
        top_k: int = 3,
        counter_id: str | None = None,
    ) -> dict:
        """Recognize one tray from 1-3 frames; the answer has the docs/ai-contract.md shape."""
        t_all = time.perf_counter()
        t0 = time.perf_counter()
        batch = self.preprocess(frames, counter_id)
        pre = _ms(t0)
        raw = self.inference(batch)
        out = self.postprocess(raw, batch, candidate_skus, top_k)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        out["timings_ms"] = {"preprocess": pre, **out["timings_ms"], "total": _ms(t_all)}
        return out

    # ---------------------------------------------------------------- the safety net
    def _doubts(
        self,
        raw: Raw,
        groups: list[list[int]],
        n_frames: int,
        ratio: list[float],
        labels: list[str | None],
        shift: float | None = None,
    ) -> str:
        """Why the accepted items may not explain the tray ("" when they do).

        Independent of how sure the matching is: anything on the tray no item explains, an item
        much smaller or larger than its product's references (a fragment, merged items), pieces
        that would be one item, and an item whose size or presence differs between the frames.
        shift: how far the frames' light lies from the reference photos' (`_light_shift`).
        """
        if shift is not None and shift > LIGHT_SHIFT:
            return shift_reason(shift)
        sh, sw = raw.seg_size
        if raw.leftover is not None:
            limit = self.calibration.leftover_area
            for f in range(n_frames):
                if int(raw.leftover[f]) > limit:
                    box = frame_box_text(raw.leftover_boxes, f, sw, sh)
                    return (
                        f"something on the tray that no item explains ({int(raw.leftover[f])} "
                        f"segmentation pixels in frame {f}, {box})"
                    )
        lo, hi = self.calibration.size_ratio
        for i, r in enumerate(ratio):
            if labels[i] is None:
                continue
            where = f"frame {int(raw.frame[i])}, {frame_box_text(raw.boxes, i, sw, sh)}"
            if r < lo:
                return (
                    f"an item region is {r:.2f}x the size of {labels[i]}'s references: a fragment"
                    f" of an item, or an item the segmentation missed in part ({where})"
                )
            if r > hi:
                return (
                    f"an item region is {r:.2f}x the size of {labels[i]}'s references: touching"
                    f" items not separated, or something else with it ({where})"
                )
        if n_frames > 1:
            for g in groups:
                if len(g) < n_frames:
                    i = g[0]
                    return (
                        "an item region is not seen in every frame "
                        f"(frame {int(raw.frame[i])}, {frame_box_text(raw.boxes, i, sw, sh)})"
                    )
                areas = raw.areas[g]
                spread = float(areas.max() / areas.min().clamp_min(1e-9))
                if spread > self.calibration.frame_area_spread:
                    i = g[0]
                    return (
                        "an item's size differs between the frames "
                        f"(frame {int(raw.frame[i])}, {frame_box_text(raw.boxes, i, sw, sh)})"
                    )
        return ""

    def _light_shift(self, raw: Raw) -> float | None:
        """How far the frames' light lies from the reference photos' (`light.light_shift`)."""
        derived = self._now
        if derived.light_range is None:
            g = self.gallery
            refs = g.lights[[o == "reference" for o in g.sources]]
            derived.light_range = (light_range(refs),)
        (span,) = derived.light_range
        if raw.lights is None or span is None:
            return None
        return light_shift(raw.lights, span)

    # ---------------------------------------------------------------- matching helpers
    @property
    def _now(self) -> _Derived:
        """What is derived from the gallery in use (made on first use)."""
        derived = self._derived.get(id(self.gallery))
        if derived is None or derived.gallery() is not self.gallery:
            # a gallery no one holds any more (an unknown store's empty one) leaves no state
            self._derived = {k: d for k, d in self._derived.items() if d.gallery() is not None}
            derived = self._derived[id(self.gallery)] = _Derived(weakref.ref(self.gallery))
        return derived

    def _gallery_matrix(self) -> tuple[torch.Tensor, list[str], torch.Tensor]:
        derived = self._now
        if derived.matrix is None:
            skus = self.gallery.sku_list
            index = {s: i for i, s in enumerate(skus)}
            col = torch.tensor([index[s] for s in self.gallery.skus], dtype=torch.long)
            derived.matrix = (self.gallery.embeddings.to(self.device), skus, col)
        return derived.matrix

    def typical_similarity(self, skus: list[str]) -> torch.Tensor:
        """(K,) per product: how close its own reference crops come to each other (the median,
        over its references, of the best similarity to another of them; 1.0 with one).

        References are shot at the store's counter, so this is what a right match scores there:
        an item's best score is read against it, so that a tray and light where every score is
        lower (a saturated or dark tray) do not look like doubt, nor a bright one like certainty.
        """
        derived = self._now
        if derived.typical is None:
            g, names, col = self._gallery_matrix()
            sims = (g @ g.T).cpu()
            sims.fill_diagonal_(-1.0)
            typical = {}
            for j, sku in enumerate(names):
                rows = torch.nonzero(col == j).squeeze(1)
                if len(rows) < 2:
                    typical[sku] = 1.0
                    continue
                own = sims[rows][:, rows].max(1).values
                typical[sku] = float(own.median())
            derived.typical = typical
        return torch.tensor([derived.typical.get(s, 1.0) for s in skus])

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
    def settle_cuts(self, raw: Raw, cands: list[str] | None) -> Raw:
        """Merge touching regions into one item, or keep them apart, whichever the candidates
        explain (cuts.py); cands None or empty: each blob of touching regions whole."""
        if not cands:
            return cuts.settle(raw, None, self.calibration.size_ratio)

        def fit(r: Raw) -> tuple[torch.Tensor, list[float]]:
            typical = self.typical_similarity(cands)
            s = self._scores(r.embeddings, cands)
            top1, best = s.max(1)
            ratio = self._size_ratio(r.areas, [cands[int(j)] for j in best])
            return top1 - typical[best], ratio

        return cuts.settle(raw, fit, self.calibration.size_ratio)

    def _embed_frames(
        self, frames: list[Image.Image], cands: list[str] | None = None
    ) -> tuple[Raw, Batch]:
        """Segment, embed and settle the cuts against `cands` (None: touching regions whole)."""
        batch = self.preprocess(frames)
        return self.settle_cuts(self.inference(batch), cands), batch

    def register(self, sku: str, images: list[Image.Image], replace: bool = False) -> dict:
        """Add reference photos of `sku` (<= MAX_REFERENCE_PHOTOS per product): no retraining.

        Each photo is checked on its own with the trays' segmentation (on whatever tray it was
        taken): it must show one clear item. A photo that does not is refused with its reason;
        the others are added. Raises TooManyPhotos, adding nothing, when the product would pass
        the limit. replace=True drops the product's earlier reference photos first.
        Returns {"sku", "added", "outcomes": [PhotoOutcome], "references", "gallery_size", ...}.
        """
        if not sku:
            raise ValueError("sku is required")
        if not images:
            raise ValueError("at least one reference photo is needed")
        existing = 0 if replace else self.gallery.count(sku, "reference")
        if existing + len(images) > MAX_REFERENCE_PHOTOS:
            raise TooManyPhotos(sku, existing, len(images), MAX_REFERENCE_PHOTOS)
        checked: list[tuple[Raw, int] | str] = []
        for im in images:
            raw, _ = self._embed_frames([im])
            checked.append(self._reference_item(raw))
        if replace:
            self.gallery.remove(
                [
                    not (s == sku and o == "reference")
                    for s, o in zip(self.gallery.skus, self.gallery.sources, strict=True)
                ]
            )
        outcomes = []
        for k, found in enumerate(checked):
            if isinstance(found, str):
                outcomes.append(PhotoOutcome(k, reason=found))
                continue
            raw, i = found
            (photo_id,) = self.gallery.add(
                sku,
                "reference",
                raw.embeddings[i : i + 1],
                raw.crops[i : i + 1],
                raw.scales[i : i + 1],
                raw.areas[i : i + 1],
                raw.lights[:1] if raw.lights is not None else None,
            )
            outcomes.append(PhotoOutcome(k, photo_id=photo_id))
        added = sum(o.added for o in outcomes)
        if added or replace:
            self._changed()
        return {
            "sku": sku,
            "added": added,
            "outcomes": outcomes,
            "references": self.gallery.count(sku, "reference"),
            "gallery_size": len(self.gallery),
            "model_version": self.model_version,
        }

    def _reference_item(self, raw: Raw) -> tuple[Raw, int] | str:
        """The one clear item of a reference photo, or why there is none."""
        n = int(raw.areas.numel())
        if n == 0:
            return "no item found: the photo shows only the tray (or the item is too faint)"
        order = raw.areas.argsort(descending=True).tolist()
        i = order[0]
        area = float(raw.areas[i])
        others = [j for j in order[1:] if float(raw.areas[j]) > REFERENCE_OTHERS * area]
        if others:
            return (
                f"{len(others) + 1} items found: a reference photo must show one item alone "
                "on the tray"
            )
        if area < REFERENCE_MIN_AREA:
            return (
                f"no clear item found: the largest region covers {area:.2%} of the frame "
                f"(at least {REFERENCE_MIN_AREA:.1%} is needed; move the camera closer)"
            )
        sh, sw = raw.seg_size
        x0, y0, x1, y1 = raw.boxes[i].tolist()
        if x0 <= 0 or y0 <= 0 or x1 >= sw or y1 >= sh:
            return "the item is cut off by the frame's edge: centre it on the tray"
        return raw, i

    def photos(self, sku: str) -> list[dict[str, str]]:
        """The product's reference photos: [{"id", "added_at"}], oldest first."""
        return self.gallery.references(sku)

    def delete_photo(self, sku: str, photo_id: str) -> bool:
        """Drop one reference photo (and save the gallery); False when there is no such photo."""
        if not self.gallery.delete_reference(sku, photo_id):
            return False
        self._changed()
        return True

    def capture_background(self, counter_id: str, frames: list[Image.Image]) -> dict:
        """Store a counter's empty tray (1-4 frames of the same size) and save the gallery.

        Raises ValueError naming the problem: no or too many frames, frames of different sizes,
        items on the tray, or frames that differ (the camera or the tray moved).
        """
        if not counter_id:
            raise ValueError("counter_id is required")
        if not 1 <= len(frames) <= MAX_CAPTURE_FRAMES:
            raise ValueError(f"an empty-tray capture takes 1 to {MAX_CAPTURE_FRAMES} frames")
        if len({im.size for im in frames}) > 1:
            raise ValueError("the capture's frames differ in size: take them with one camera")
        batch = self.preprocess(frames)
        with torch.inference_mode():
            found = segment(batch.seg, self.seg_params, estimate(batch.seg))
            sh, sw = batch.seg.shape[2], batch.seg.shape[3]
            # a pattern that runs off the frame (a liner's printed border, a tray's rim) is the
            # tray's own; an item lies on the tray, inside the frame
            mask = (found.labels > 0).to(torch.uint8)
            edge = torch.zeros_like(mask)
            edge[..., 0, :] = edge[..., -1, :] = edge[..., :, 0] = edge[..., :, -1] = 1
            off_frame = reconstruct(mask * edge, mask, 4 * (sh + sw)).bool()
            inside = (found.labels * (~off_frame).long()).reshape(-1)
            inside_area = torch.bincount(inside, minlength=len(found.areas) + 1)[1:]
            for f in range(len(frames)):
                on_tray = (found.frame == f) & (inside_area >= self.seg_params.min_area)
                areas = inside_area[on_tray]
                if int(areas.numel()):
                    share = float(areas.sum()) / float(sh * sw)
                    raise ValueError(
                        f"frame {f} shows {int(areas.numel())} item(s) on the tray "
                        f"({share:.1%} of the frame): capture the empty tray"
                    )
            if len(frames) > 1:
                # compared after dividing out each frame's overall light (exposure may vary)
                rel = batch.seg / batch.seg.mean((2, 3), keepdim=True).clamp_min(1e-3)
                spread = (rel - rel.mean(0, keepdim=True)).abs().mean()
                if float(spread) > MAX_CAPTURE_SPREAD:
                    raise ValueError(
                        "the capture's frames differ (the camera, the tray or the light moved "
                        "between them): capture again"
                    )
            capture = measure_capture(batch.seg)
        captured_at = now_iso()
        self.gallery.backgrounds[counter_id] = {
            **capture.to_state(),
            "captured_at": captured_at,
            "size": list(frames[0].size),
        }
        self._now.captures.pop(counter_id, None)
        self.save_gallery()
        return {
            "counter_id": counter_id,
            "frames": len(frames),
            "captured_at": captured_at,
            "model_version": self.model_version,
        }

    def learn_from_review(self, frames: list[Image.Image], corrected_items: list[dict]) -> dict:
        """Add the item crops of a resolved review to the gallery under their corrected SKUs.

        corrected_items: [{"sku": str, "count": int, "boxes"?: [{"frame": f, "box": [x0, ...]}]}]
        With boxes, each box picks the segmented item it overlaps most (IoU >= 0.5). Without boxes,
        a frame whose number of segmented items equals the corrected total is used: its items are
        assigned to the corrected SKUs by best similarity within the corrected counts.
        """
        named = dict.fromkeys(it["sku"] for it in corrected_items)
        known = [s for s in named if self.gallery.count(s)]
        raw, batch = self._embed_frames(frames, known)
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
                raw.lights[int(raw.frame[i])][None] if raw.lights is not None else None,
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
        self._now.forget()
        self.save_gallery()

    def use_gallery(self, gallery: Gallery, changed: bool = False) -> None:
        """Recognize against, and learn into, `gallery` from now on (one per store).

        changed: the gallery was edited outside the pipeline; its matching caches are rebuilt.
        """
        self.gallery = gallery
        if changed:
            self._now.forget()
        if gallery.embedder_id != self.embedder_id and len(gallery):
            self._reembed_gallery()

    @torch.inference_mode()
    def _reembed_gallery(self) -> None:
        """The gallery was built with another embedder: embed its stored crops again."""
        g = self.gallery
        crops = g.crops.float().to(self.device) / 255.0
        g.embeddings = self.embedder(crops, g.scales.to(self.device)).float().cpu()
        g.embedder_id = self.embedder_id
        self._now.forget()


@dataclass
class _Derived:
    """What matching derives from one gallery: kept until that gallery changes."""

    gallery: weakref.ref[Gallery]
    matrix: tuple[torch.Tensor, list[str], torch.Tensor] | None = None
    typical: dict[str, float] | None = None
    captures: dict[str, Capture] = field(default_factory=dict)
    # the reference photos' light range (`light.light_range`), boxed: (None,) when none recorded
    light_range: tuple[tuple[torch.Tensor, torch.Tensor] | None] | None = None

    def forget(self) -> None:
        self.matrix = None
        self.typical = None
        self.light_range = None
        self.captures = {}


__all__ = ["CROP_SIZE", "Calibration", "Pipeline"]
