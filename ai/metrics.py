"""Prometheus metrics of the AI service, served at /metrics.

Besides servicekit's request counts and latency (`ai_http_*`), each answered tray adds its stage
timings (the recognizer's `timings_ms`, in seconds) and its decision. Stages are a fixed list, so a
recognizer that reports a new stage name cannot grow the number of series; unknown names are not
recorded until they are listed here.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Histogram

from servicekit.metrics import HttpMetrics

# decode: base64 and image decoding; preprocess/segment/embed/match/fuse: the real pipeline's
# stages; recognize: the recognizer as a whole (the mock reports only this); total: the request.
STAGES = ("decode", "preprocess", "segment", "embed", "match", "fuse", "recognize", "total")
DECISIONS = ("AUTO", "REVIEW", "UNKNOWN")

# A stage takes from under a millisecond (matching) to seconds (a CPU pipeline's embedding).
STAGE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics(HttpMetrics):
    def __init__(self) -> None:
        super().__init__("ai")
        self.stage_seconds = Histogram(
            "ai_recognition_stage_seconds",
            "Time per recognition stage of answered trays",
            ["stage"],
            buckets=STAGE_BUCKETS_S,
            registry=self.registry,
        )
        self.decisions = Counter(
            "ai_decisions_total", "Answered trays by decision", ["decision"], registry=self.registry
        )
        for decision in DECISIONS:  # every decision shows, at 0, before the first tray
            self.decisions.labels(decision)

    def observe_recognition(self, timings_ms: Mapping[str, float], decision: str) -> None:
        for stage in STAGES:
            if stage in timings_ms:
                self.stage_seconds.labels(stage).observe(timings_ms[stage] / 1000)
        self.decisions.labels(decision).inc()
