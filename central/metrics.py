"""Prometheus metrics, served at /metrics: servicekit's request metrics and Central's own."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from servicekit.metrics import HttpMetrics


class Metrics(HttpMetrics):
    """One registry per app, so two apps in one process (tests, benchmarks) do not collide."""

    def __init__(self) -> None:
        super().__init__("central")
        self.ai_calls = Counter(
            "central_ai_calls_total",
            "Calls to the AI service by outcome (OK or the failure)",
            ["outcome"],
            registry=self.registry,
        )
        self.ai_latency = Histogram(
            "central_ai_call_duration_seconds", "AI service call latency", registry=self.registry
        )
        self.decisions = Counter(
            "central_tray_decisions_total",
            "Stored recognition runs by decision",
            ["decision"],
            registry=self.registry,
        )

        self.archive_failures = Counter(
            "central_tray_archive_failures_total",
            "Infers whose frames could not be archived, by cause (the tray was decided anyway)",
            ["cause"],
            registry=self.registry,
        )
