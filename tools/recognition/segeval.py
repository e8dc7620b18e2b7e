"""`nox -s segeval`: the segmentation alone, region by region against the generator's truth.

    python -m tools.recognition.segeval [--families a,b] [--trays 10] [--capture/--no-capture]
        [--seed evaluation] [--counter 3] [--cache DIR] [--json OUT]

Every tray is segmented as the pipeline segments it (the tray estimated from the frame, or the
counter's empty tray captured through Pipeline.capture_background) and each frame's regions are
compared with where the generator drew every item (its opaque pixels, reduced to segmentation
resolution). Per frame and item:

- a region belongs to the item holding most of its pixels when that is at least half of them;
  a region holding at least a quarter of each of two or more items *merges* them; a region that
  belongs to no item is *spurious* (tray, shadow or glare taken for an item);
- an item is *split* when two or more regions belong to it, *missed* when no region holds a
  quarter of it, *faint* when its best region's IoU is below 0.5 (found only in part);
- a tray is *perfect* when in every frame each item is exactly one region with IoU >= 0.5 and no
  other region exists: what the pipeline's counting and safety net need.

Reported per tray family and mode, then over the held-out and the fitting families. Tune on the
fitting families (`--seed development --counter 0`), check on the held-out ones.
"""

from __future__ import annotations

import argparse
import json
import pickle
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ai.recognition.background import estimate, from_capture, texture_level
from ai.recognition.pipeline import Pipeline
from ai.recognition.segment import SegmentParams, segment
from fixtures.bakery import FAMILIES, FITTING_FAMILIES, HELD_OUT_FAMILIES, SEEDS, style_skus
from fixtures.bakery.scene import Tray
from tools.recognition.bakery import capture_counter, generate_trays

SCALE = 4  # frame pixels per segmentation pixel (1280 -> 640 working width -> 320)
MODES = ("no capture", "capture")
COUNTS = ("split", "merged", "missed", "spurious", "faint")


def truth_labels(tray: Tray, frame: int, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int map at segmentation resolution: 0 tray, k = item k-1 (majority of its pixels)."""
    h, w = shape
    big = np.zeros((h * SCALE, w * SCALE), np.int32)
    for k, (x0, y0, m) in enumerate(tray.masks[frame]):
        ya, xa = max(0, y0), max(0, x0)
        yb, xb = min(big.shape[0], y0 + m.shape[0]), min(big.shape[1], x0 + m.shape[1])
        if yb > ya and xb > xa:
            sub = m[ya - y0 : yb - y0, xa - x0 : xb - x0]
            big[ya:yb, xa:xb][sub] = k + 1
    n = len(tray.masks[frame])
    onehot = np.zeros((n + 1, h, w), np.float32)
    blocks = big.reshape(h, SCALE, w, SCALE)
    for k in range(n + 1):
        onehot[k] = (blocks == k).mean((1, 3))
    return onehot.argmax(0)


def compare(truth: np.ndarray, labels: np.ndarray) -> dict:
    """One frame's flaws and IoUs: truth and labels are (H, W) int maps, 0 = tray."""
    labels = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)  # 0..m per frame
    if labels.max() > 0 and not (labels == 0).any():
        labels = labels + 1  # (no tray pixel at all: every label is a region)
    n, m = int(truth.max()), int(labels.max())
    joint = np.bincount((truth * (m + 1) + labels).ravel(), minlength=(n + 1) * (m + 1))
    o = joint.reshape(n + 1, m + 1)
    items, regs = o[1:, :].sum(1), o[:, 1:].sum(0)
    ov = o[1:, 1:]  # (items, regions)
    out: dict = dict.fromkeys(COUNTS, 0)
    out["regions"], out["items"] = m, n
    present = regs > 0
    merged = (ov >= 0.25 * np.maximum(items, 1)[:, None]).sum(0) >= 2
    owner = ov.argmax(0) if n else np.zeros(m, int)
    owned = (ov.max(0) >= 0.5 * regs) if n else np.zeros(m, bool)
    out["merged"] = int((merged & present).sum())
    out["spurious"] = int((present & ~owned & ~merged).sum())
    ious = []
    for i in range(n):
        mine = present & owned & ~merged & (owner == i)
        if int(mine.sum()) >= 2:
            out["split"] += 1
        inter = ov[i]
        union = items[i] + regs - inter
        iou = inter / np.maximum(union, 1)
        best = float(iou.max()) if m else 0.0
        ious.append(best)
        if not m or inter.max() < 0.25 * items[i]:
            out["missed"] += 1
        elif best < 0.5 and not (merged & (inter >= 0.25 * items[i])).any():
            out["faint"] += 1
    out["iou"] = ious
    out["perfect"] = m == n and all(v == 0 for k, v in out.items() if k in COUNTS)
    out["perfect"] = out["perfect"] and all(x >= 0.5 for x in ious)
    return out


def _cached_trays(
    cache: Path | None, seed: int, n: int, skus: list[str], family: str, counter: int
) -> Iterator[Tray]:
    path = cache / f"{seed}-{family}-{counter}-{n}.pkl" if cache else None
    if path is not None and path.exists():
        yield from pickle.loads(path.read_bytes())  # noqa: S301 (this tool wrote it)
        return
    trays = list(generate_trays(seed, range(n), skus, family, counter))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(trays))
    yield from trays


@torch.inference_mode()
def regions_of(p: Pipeline, tray: Tray, counter_id: str | None) -> np.ndarray:
    """The region labels (B, H, W) the pipeline's segmentation gives the tray's frames."""
    # what Pipeline.inference does before it crops: the same tray model and segmentation
    batch = p.preprocess(tray.frames(), counter_id)
    texture = texture_level(batch.seg)
    if batch.capture is not None:
        tray_model = from_capture(batch.seg, batch.capture)
    else:
        tray_model = estimate(batch.seg, texture)
    reg = segment(batch.seg, p.seg_params, tray_model, texture)
    return reg.labels[:, 0].cpu().numpy()


def evaluate_family(
    family: str,
    trays: int,
    seed: int,
    counter: int,
    modes: tuple[str, ...],
    cache: Path | None,
    params: dict[str, Any],
) -> dict[str, list[dict]]:
    """Per mode, one entry per tray: its frames' comparisons."""
    p = Pipeline.load("cpu", None)
    p.seg_params = replace(p.seg_params, **params)
    ids: dict[str, str | None] = {"no capture": None, "capture": None}
    if "capture" in modes:
        ids["capture"] = capture_counter(p, family, counter)
    skus = style_skus(("classic", "pale", "topped"))
    out: dict[str, list[dict]] = {m: [] for m in modes}
    for tray in _cached_trays(cache, seed, trays, skus, family, counter):
        for mode in modes:
            labels = regions_of(p, tray, ids[mode])
            frames = [
                compare(truth_labels(tray, f, labels.shape[1:]), labels[f])
                for f in range(len(tray.jpegs))
            ]
            out[mode].append({"tray": tray.tray_id, "frames": frames})
    return out


def figures(trays: list[dict]) -> dict:
    """Perfect-tray share, flaw counts (over every frame) and mean IoU of a list of trays."""
    frames = [f for t in trays for f in t["frames"]]
    ious = [x for f in frames for x in f["iou"]]
    return {
        "trays": len(trays),
        "frames": len(frames),
        "items": sum(f["items"] for f in frames),
        "perfect": sum(all(f["perfect"] for f in t["frames"]) for t in trays) / max(1, len(trays)),
        **{k: sum(f[k] for f in frames) for k in COUNTS},
        "mean_iou": float(np.mean(ious)) if ious else 0.0,
        "flawed_trays": [t["tray"] for t in trays if not all(f["perfect"] for f in t["frames"])],
    }


def table(rows: list[tuple[str, str, str, dict]]) -> str:
    lines = [
        "| tray family | split | mode | trays | items (all frames) | perfect trays | split "
        "| merged | missed | spurious | faint | mean IoU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family, group, mode, m in rows:
        lines.append(
            f"| {family} | {group} | {mode} | {m['trays']} | {m['items']} | {m['perfect']:.3f} | "
            + " | ".join(str(m[k]) for k in COUNTS)
            + f" | {m['mean_iou']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.recognition.segeval")
    ap.add_argument("--families", default="", help="comma-separated (default: all)")
    ap.add_argument("--trays", type=int, default=12, help="trays per family")
    ap.add_argument(
        "--capture",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only with (--capture) or without (--no-capture); default both",
    )
    ap.add_argument("--seed", default="evaluation", help=f"a split of {sorted(SEEDS)}")
    ap.add_argument("--counter", type=int, default=3, help="the evaluation's counter is 3")
    ap.add_argument("--cache", type=Path, default=None, help="keep the drawn trays here")
    ap.add_argument("--verbose", action="store_true", help="list the flawed trays")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="try another SegmentParams value (repeatable)",
    )
    a = ap.parse_args(argv)
    params = {
        k: type(getattr(SegmentParams(), k))(float(v))
        for k, v in (x.split("=", 1) for x in a.param)
    }
    families = [f for f in a.families.split(",") if f] or [*HELD_OUT_FAMILIES, *FITTING_FAMILIES]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or a.seed not in SEEDS:
        print(
            f"unknown tray families {unknown} or seed; known: {sorted(FAMILIES)}, {sorted(SEEDS)}"
        )
        return 2
    modes = MODES if a.capture is None else (("capture",) if a.capture else ("no capture",))
    results = {}
    rows: list[tuple[str, str, str, dict]] = []
    for family in families:
        results[family] = evaluate_family(
            family, a.trays, SEEDS[a.seed], a.counter, modes, a.cache, params
        )
        group = "held-out" if family in HELD_OUT_FAMILIES else "fitting"
        for mode in modes:
            m = figures(results[family][mode])
            rows.append((family, group, mode, m))
            print(
                f"{family:14s} {mode:10s} perfect {m['perfect']:.3f} "
                + " ".join(f"{k} {m[k]}" for k in COUNTS)
                + f" IoU {m['mean_iou']:.3f}"
                + (f"  flawed: {' '.join(m['flawed_trays'])}" if a.verbose else ""),
                flush=True,
            )
    for group, members in (("held-out", HELD_OUT_FAMILIES), ("fitting", FITTING_FAMILIES)):
        present = [f for f in families if f in members]
        for mode in modes if present else ():
            m = figures([t for f in present for t in results[f][mode]])
            rows.append((f"all {group}", group, mode, m))
    print(table(rows))
    if a.json:
        a.json.write_text(json.dumps([[*r[:3], r[3]] for r in rows], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
