"""Prometheus request metrics both services keep, by route template and status, and /metrics.

Each app has its own registry, so two apps in one process (tests, benchmarks) do not collide.
Labels are the route's template (`/v1/products/{sku}/photos`), never the raw path: a client
cannot grow the number of series by inventing paths.
"""

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


class HttpMetrics:
    """`<prefix>_http_requests_total` and `<prefix>_http_request_duration_seconds`."""

    def __init__(self, prefix: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            f"{prefix}_http_requests_total",
            "HTTP requests by route and status (499: the client left before the answer)",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
