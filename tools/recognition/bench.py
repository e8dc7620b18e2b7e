"""`nox -s bench_ai`: in-process latency per stage and per tray.

    python -m tools.recognition.bench [--runs 60] [--threads N] [--http]

A tray is 2 frames of 1280x960 JPEG with 10 items; decoding them (base64 and JPEG, with the
service's decoder, which lets libjpeg decode straight to the working width) is timed as its own
stage and included in the per-tray figure. `--http` also serves the pipeline as the AI service (a
real uvicorn process on loopback, the same products registered through its API) and, after the
in-process runs, times POST /v1/infer from the client's side, each tray in-process and over HTTP
in turn (both processes share the 2 cores then, so the paired figures run slower than the
in-process ones alone; their difference is what HTTP adds). The report ends with
the aims: in-process tray p50 <= 60 ms, and the service's total at most 5 ms over the in-process
tray (the p50 of the paired differences).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ai.frames import FrameLimits, decode_frames
from ai.recognition.pipeline import WORK_WIDTH
from fixtures.bakery import SEEDS, catalog_skus, make_tray
from tools.recognition.bakery import new_pipeline

TRAY_AIM_MS = 60.0  # in-process tray p50 (decode + recognize), 2 CPU cores
HTTP_AIM_MS = 5.0  # the service's total over the in-process tray, p50 of paired runs
PHOTOS = 5  # reference photos per product, in-process and over HTTP alike


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tools.recognition.bench")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--trays", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--http", action="store_true", help="also time the service over HTTP")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    p = new_pipeline("cpu", photos=PHOTOS)
    skus = catalog_skus()
    trays = [
        make_tray(SEEDS["tests"] + 1, i, skus, n_items=(10, 10), n_frames=(2, 2), touch_p=0.2)
        for i in range(a.trays)
    ]
    # the service's decoder: JPEGs come out already reduced to the pipeline's working width
    limits = FrameLimits(2, 8 * 1024 * 1024, 20_000_000, decode_width=WORK_WIDTH)
    bodies = [[base64.b64encode(j).decode() for j in tray.jpegs] for tray in trays]

    def in_process(r: int) -> dict[str, float]:
        t0 = time.perf_counter()
        frames = decode_frames(bodies[r % len(bodies)], limits)
        decode = (time.perf_counter() - t0) * 1000
        out = p.recognize(frames, skus, top_k=3)
        total = (time.perf_counter() - t0) * 1000
        return {"decode": decode, **out["timings_ms"], "tray (decode + recognize)": total}

    stages: dict[str, list[float]] = {}
    for r in range(a.runs + 3):
        here = in_process(r)
        if r >= 3:  # after the warm-up
            for k, v in here.items():
                stages.setdefault(k, []).append(v)
    http: dict[str, list[float]] = {}
    if a.http:
        with _service(skus, a.threads) as post:
            for r in range(a.runs + 3):
                # in-process and over HTTP in turn, so that a machine whose speed drifts (a
                # shared virtual machine) slows both alike and the paired difference stays fair
                here = in_process(r)
                there = post(bodies[r % len(bodies)], skus)
                if r < 3:
                    continue
                for k, v in there.items():
                    http.setdefault(k, []).append(v)
                http.setdefault("in-process tray, paired", []).append(
                    here["tray (decode + recognize)"]
                )
                http.setdefault("service total - in-process tray", []).append(
                    there["service total"] - here["tray (decode + recognize)"]
                )
    report: dict[str, object] = {
        "device": p.device_name,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "runs": a.runs,
        "tray": "2 frames 1280x960 JPEG, 10 items",
        "ms": _percentiles(stages),
    }
    aims = {"tray p50 (ms)": (stages["tray (decode + recognize)"], TRAY_AIM_MS)}
    if http:
        report["http_ms"] = _percentiles(http)
        aims["service over in-process, p50 (ms)"] = (
            http["service total - in-process tray"],
            HTTP_AIM_MS,
        )
    report["aims"] = {
        name: {"p50": round(float(np.percentile(v, 50)), 2), "aim": aim}
        | {"met": bool(np.percentile(v, 50) <= aim)}
        for name, (v, aim) in aims.items()
    }
    print(json.dumps(report, indent=2))


def _percentiles(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        k: {
            "p50": round(float(np.percentile(v, 50)), 2),
            "p99": round(float(np.percentile(v, 99)), 2),
        }
        for k, v in samples.items()
    }


@contextlib.contextmanager
def _service(
    skus: list[str], threads: int
) -> Iterator[Callable[[list[str], list[str]], dict[str, float]]]:
    """The AI service in its own process on loopback, the catalog registered through its API
    from the same photos as the in-process pipeline; yields a function that posts one tray and
    returns its client round trip, the service's total and the service's stages (ms)."""
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
    # the service logs to stdout: kept apart from the report
    server = subprocess.Popen([sys.executable, "-m", "ai", "serve"], env=env, stdout=sys.stderr)
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
                for k in range(PHOTOS)
            ]
            added = http.post(f"/v1/products/{sku}/photos", json={"photos_b64": photos})
            # a photo the service refuses (422, naming it) is refused in-process too
            if added.status_code not in (200, 201, 422):
                added.raise_for_status()

        def post(frames_b64: list[str], candidates: list[str]) -> dict[str, float]:
            t0 = time.perf_counter()
            answer = http.post(
                "/v1/infer", json={"frames_b64": frames_b64, "candidate_skus": candidates}
            )
            answer.raise_for_status()
            client = (time.perf_counter() - t0) * 1000
            timings = answer.json()["timings_ms"]
            return {
                "client round trip": client,
                "service total": timings["total"],
                **{f"service {k}": v for k, v in timings.items() if k != "total"},
            }

        yield post
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
