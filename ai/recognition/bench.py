"""`nox -s bench_ai`: in-process latency per stage and per tray.

    python -m ai.recognition.bench [--runs 60] [--threads N]

A tray is 2 frames of 1280x960 JPEG with 10 items; decoding the JPEGs (Pillow) is timed as its own
stage and included in the per-tray figure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time

import numpy as np
import torch
from PIL import Image

from fixtures.bakery import SEEDS, catalog_skus, make_tray

from .bakery import new_pipeline


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ai.recognition.bench")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--trays", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    p = new_pipeline("cpu")
    skus = catalog_skus()
    trays = [
        make_tray(SEEDS["tests"] + 1, i, skus, n_items=(10, 10), n_frames=(2, 2), touch_p=0.2)
        for i in range(a.trays)
    ]
    stages: dict[str, list[float]] = {}
    totals = []
    for r in range(a.runs + 3):
        tray = trays[r % len(trays)]
        t0 = time.perf_counter()
        frames = [Image.open(io.BytesIO(j)).convert("RGB") for j in tray.jpegs]
        decode = (time.perf_counter() - t0) * 1000
        out = p.recognize(frames, skus, top_k=3)
        total = (time.perf_counter() - t0) * 1000
        if r < 3:
            continue  # warm-up
        for k, v in {"decode": decode, **out["timings_ms"]}.items():
            stages.setdefault(k, []).append(v)
        totals.append(total)
    res = {
        k: {
            "p50": round(float(np.percentile(v, 50)), 2),
            "p99": round(float(np.percentile(v, 99)), 2),
        }
        for k, v in stages.items()
    }
    res["tray (decode + recognize)"] = {
        "p50": round(float(np.percentile(totals, 50)), 2),
        "p99": round(float(np.percentile(totals, 99)), 2),
    }
    print(
        json.dumps(
            {
                "device": p.device_name,
                "torch_threads": torch.get_num_threads(),
                "cpus": os.cpu_count(),
                "runs": a.runs,
                "tray": "2 frames 1280x960 JPEG, 10 items",
                "ms": res,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
