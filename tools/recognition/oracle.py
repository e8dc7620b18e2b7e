"""Where recognition errors come from: the segmentation, or the classification and decision.

    python -m tools.recognition.oracle [--trays 10] [--families a,b] [--json OUT]

Dev-only. Every tray of a family's evaluation counter (as `evaluate` builds it) is recognized
twice per mode (without and with the counter's capture):
- as the pipeline does it (its own segmentation);
- with *oracle regions*: the generator's true item outlines, at segmentation resolution, fed to the
  same crop, white balance, embedding, matching, fusion and decision (the safety net's leftover
  check has nothing to measure there).
Printed per family and mode: crop top-1 accuracy (each region's best candidate against the item
it overlaps), tray cAcc and automation, with segmentation and with oracle regions; how many trays
the segmentation got right (every frame: one region per item, box IoU >= 0.5); and the REVIEW
reasons on the trays whose segmentation was right.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ai.recognition.pipeline import Pipeline, Raw
from fixtures.bakery import FITTING_FAMILIES, HELD_OUT_FAMILIES, HELD_OUT_STYLES, SEEDS, style_skus
from fixtures.bakery.scene import Tray, item_masks
from tools.recognition.bakery import (
    capture_counter,
    frame_box,
    generate_trays,
    new_pipeline,
    one_thread,
    reason_kind,
    segmentation_right,
    true_item,
)
from tools.recognition.evaluate import EVAL_COUNTER


def oracle_regions(
    tray: Tray, n_frames: int, seg_size: tuple[int, int], frame_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """(labels (B, 1, h, w), frame (N,), boxes (N, 4), area pixels (N,), item index per region)
    from the true outlines.

    A segmentation pixel belongs to an item when the item covers at least half of it.
    """
    sh, sw = seg_size
    w, h = frame_size
    labels = torch.zeros(n_frames, 1, sh, sw, dtype=torch.long)
    frame, boxes, areas, items = [], [], [], []
    k = 0
    for f in range(n_frames):
        for j, (x0, y0, alpha) in enumerate(item_masks(tray, f)):
            cover = np.zeros((h, w), np.float32)
            ah, aw = alpha.shape
            ya, xa = max(0, y0), max(0, x0)
            yb, xb = min(h, y0 + ah), min(w, x0 + aw)
            cover[ya:yb, xa:xb] = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
            pooled = torch.from_numpy(cover)[None, None]
            pooled = torch.nn.functional.adaptive_avg_pool2d(pooled, (sh, sw))[0, 0]
            m = pooled >= 0.5
            if not bool(m.any()):
                continue
            k += 1
            labels[f, 0][m] = k
            ys, xs = torch.nonzero(m, as_tuple=True)
            frame.append(f)
            boxes.append([int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1])
            areas.append(int(m.sum()))
            items.append(j)
    return (
        labels,
        torch.tensor(frame, dtype=torch.long),
        torch.tensor(boxes, dtype=torch.long).reshape(-1, 4),
        torch.tensor(areas, dtype=torch.long),
        items,
    )


@torch.inference_mode()
def oracle_inference(p: Pipeline, batch, tray: Tray) -> Raw:
    """The pipeline's inference with the true item regions in place of its segmentation."""
    seg_size = (batch.seg.shape[2], batch.seg.shape[3])
    labels, frame, boxes, px, _ = oracle_regions(tray, len(batch.sizes), seg_size, batch.sizes[0])
    return p.embed_regions(batch, labels, frame, boxes, px)


def _crop_hits(tray: Tray, d: dict) -> list[bool]:
    hits = []
    for f, b, lab in zip(d["frame"], d["boxes"], d["best"], strict=True):
        k, iou = true_item(tray, f, frame_box(b, d["sizes"][f], d["seg_size"]))
        hits.append(iou >= 0.5 and tray.poses[k].sku == lab)
    return hits


def run_family(family: str, skus: list[str], trays: int) -> dict:
    p = new_pipeline("cpu", skus=skus, family=family, counter=EVAL_COUNTER)
    cid = capture_counter(p, family, EVAL_COUNTER)
    stats: dict[str, dict] = {}
    for tray in generate_trays(SEEDS["evaluation"], range(trays), skus, family, EVAL_COUNTER):
        frames = tray.frames()
        for mode, counter in (("no capture", None), ("capture", cid)):
            s = stats.setdefault(mode, {"seg": Counter(), "oracle": Counter()})
            batch = p.preprocess(frames, counter)
            for how in ("seg", "oracle"):
                raw = p.inference(batch) if how == "seg" else oracle_inference(p, batch, tray)
                ans = p.postprocess(raw, batch, skus, 3)
                d = p.last_detail
                hits = _crop_hits(tray, d)
                pred = Counter(it["sku"] for it in ans["items"] for _ in range(it["count"]))
                exact = dict(pred) == tray.counts and all(it["sku"] for it in ans["items"])
                c = s[how]
                c["trays"] += 1
                c["crops"] += len(hits)
                c["crop_hits"] += sum(hits)
                c["exact"] += exact
                c["auto"] += ans["decision"] == "AUTO"
                c["wrong_auto"] += ans["decision"] == "AUTO" and not exact
                c["reason: " + reason_kind(ans["reason"])] += 1
                if how == "seg":
                    right = segmentation_right(tray, d, len(frames))
                    c["seg_right"] += right
                    if right:
                        c["seg-right reason: " + reason_kind(ans["reason"])] += 1
                        c["seg-right exact"] += exact
    return {m: {h: dict(c) for h, c in v.items()} for m, v in stats.items()}


def summary_line(c: dict) -> str:
    n = max(1, c.get("trays", 0))
    return (
        f"crop top-1 {c.get('crop_hits', 0) / max(1, c.get('crops', 0)):.3f}  "
        f"cAcc {c.get('exact', 0) / n:.3f}  auto {c.get('auto', 0) / n:.3f}  "
        f"wrong-AUTO {c.get('wrong_auto', 0)}"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tools.recognition.oracle")
    ap.add_argument("--trays", type=int, default=10)
    ap.add_argument("--families", default="", help="comma-separated (default: held-out)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    one_thread()
    families = [f for f in a.families.split(",") if f] or list(HELD_OUT_FAMILIES)
    skus = style_skus(("classic", *HELD_OUT_STYLES))
    report = {}
    for family in families:
        report[family] = r = run_family(family, skus, a.trays)
        split = "fitting" if family in FITTING_FAMILIES else "held-out"
        for mode, v in r.items():
            seg = v["seg"]
            print(f"{family} ({split}), {mode}: seg right {seg.get('seg_right', 0)}/{seg['trays']}")
            for how in ("seg", "oracle"):
                print(f"   {how:6s} {summary_line(v[how])}")
            reasons = {k: n for k, n in seg.items() if k.startswith("seg-right reason")}
            print(f"   seg-right trays: {reasons}")
            orc = {k: n for k, n in v["oracle"].items() if k.startswith("reason")}
            print(f"   oracle reasons: {orc}", flush=True)
    for mode in ("no capture", "capture"):
        for how in ("seg", "oracle"):
            tot: Counter = Counter()
            for fam in families:
                tot.update(report[fam][mode][how])
            print(f"ALL {mode:10s} {how:6s} {summary_line(tot)}  seg right {tot['seg_right']}")
            print("   ", {k: n for k, n in sorted(tot.items()) if "reason" in k})
    if a.json:
        a.json.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
