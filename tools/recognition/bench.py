"""`nox -s bench_ai`: in-process latency per stage and per tray.

    python -m tools.recognition.bench [--runs 60] [--threads N] [--http]

A tray is 2 frames of 1280x960 JPEG with 10 items; decoding them (base64 and JPEG, with the
service's decoder, which lets libjpeg decode straight to the working width) is timed as its own
stage and included in the per-tray figure. `--http` also serves the pipeline as the AI service (a
real uvicorn process on loopback, products registered through its API) and times POST /v1/infer
from the client's side.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time

import numpy as np
import torch

from ai.frames import FrameLimits, decode_frames
from ai.recognition.pipeline import WORK_WIDTH
from fixtures.bakery import SEEDS, catalog_skus, make_tray
from tools.recognition.bakery import new_pipeline


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tools.recognition.bench")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--trays", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--http", action="store_true", help="also time the service over HTTP")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    p = new_pipeline("cpu")
    skus = catalog_skus()
    trays = [
        make_tray(SEEDS["tests"] + 1, i, skus, n_items=(10, 10), n_frames=(2, 2), touch_p=0.2)
        for i in range(a.trays)
    ]
    # the service's decoder: JPEGs come out already reduced to the pipeline's working width
    limits = FrameLimits(2, 8 * 1024 * 1024, 20_000_000, decode_width=WORK_WIDTH)
    stages: dict[str, list[float]] = {}
    totals = []
    for r in range(a.runs + 3):
        tray = trays[r % len(trays)]
        t0 = time.perf_counter()
        frames = decode_frames([base64.b64encode(j).decode() for j in tray.jpegs], limits)
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
    report: dict[str, object] = {
        "device": p.device_name,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "runs": a.runs,
        "tray": "2 frames 1280x960 JPEG, 10 items",
        "ms": res,
    }
    if a.http:
        report["http_ms"] = _over_http(trays, skus, a.runs, a.threads)
    print(json.dumps(report, indent=2))


def _over_http(trays: list, skus: list[str], runs: int, threads: int) -> dict[str, dict]:
    """p50/p99 of POST /v1/infer as a client sees it, and of the service's own total."""
    import base64
    import socket
    import subprocess
    import sys
    import tempfile

    import httpx

    from fixtures.bakery import make_reference

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = "bench-ai-key"
    env = {
        **os.environ,
        "AI_ADMIN_KEY": key,
        "AI_PORT": str(port),
        "AI_HOST": "127.0.0.1",
        "AI_DEVICE": "cpu",
        "AI_GALLERY": os.path.join(tempfile.mkdtemp(prefix="bench-ai-"), "gallery.pt"),
        "AI_TORCH_THREADS": str(threads),
        "AI_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen([sys.executable, "-m", "ai", "serve"], env=env)
    try:
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"X-ADMIN-KEY": key}, timeout=60
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if http.get("/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("bench_ai: the AI service did not become ready")
            time.sleep(0.2)
        for sku in skus:
            photos = [
                base64.b64encode(make_reference(SEEDS["references"], sku, k)).decode()
                for k in range(3)
            ]
            http.post(f"/v1/products/{sku}/photos", json={"photos_b64": photos}).raise_for_status()
        bodies = [
            {
                "frames_b64": [base64.b64encode(j).decode() for j in tray.jpegs],
                "candidate_skus": skus,
            }
            for tray in trays
        ]
        client_ms, server_ms = [], []
        for r in range(runs + 3):
            t0 = time.perf_counter()
            answer = http.post("/v1/infer", json=bodies[r % len(bodies)])
            answer.raise_for_status()
            if r >= 3:  # warm-up
                client_ms.append((time.perf_counter() - t0) * 1000)
                server_ms.append(answer.json()["timings_ms"]["total"])
        return {
            name: {
                "p50": round(float(np.percentile(v, 50)), 2),
                "p99": round(float(np.percentile(v, 99)), 2),
            }
            for name, v in (("client round trip", client_ms), ("service total", server_ms))
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
