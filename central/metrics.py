"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response


class Metrics:
    """One registry per app, so two apps in one process (tests, benchmarks) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "central_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "central_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
        )
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

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
