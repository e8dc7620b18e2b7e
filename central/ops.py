"""Operations: liveness, readiness, metrics, the OpenAPI document and its docs page."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from central import apidoc, migrations
from central.apidoc import api_route
from central.db import Database
from central.errors import RETRY_AFTER_S
from servicekit import openapi as oa
from servicekit.docs import docs_routes


async def health(request: Request) -> JSONResponse:
    """Liveness: the process answers. No I/O, so a slow database never restarts instances."""
    return JSONResponse({"status": "ok"})


# /ready answers within this long, whatever the database does.
READY_WITHIN_S = 0.8


class Readiness:
    """One schema-version probe at a time; callers wait for it at most READY_WITHIN_S.

    The probe itself is never cancelled (a query cut off mid-way would cost a connection); it
    ends on its own, bounded by the connect and pool timeouts, and the next caller starts anew.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._probe: asyncio.Task[int] | None = None

    async def schema_version(self) -> int:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(migrations.current_version(self.database))
            self._probe.add_done_callback(_consume)
        return await asyncio.wait_for(asyncio.shield(self._probe), READY_WITHIN_S)


def _consume(task: asyncio.Task[int]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved here, so an abandoned probe's failure is not logged as lost


async def ready(request: Request) -> JSONResponse:
    """Readiness: the database answers and its schema is the one this code expects."""
    try:
        version = await request.app.state.readiness.schema_version()
    except TimeoutError:
        return _not_ready(f"database did not answer within {READY_WITHIN_S} s")
    except Exception as exc:
        return _not_ready(f"database unreachable: {type(exc).__name__}")
    body: dict[str, Any] = {
        "schema_version": version,
        "expected_schema_version": migrations.LATEST_VERSION,
    }
    if version != migrations.LATEST_VERSION:
        return _not_ready("schema not current: run migrations (CREATE_TABLES=1)", **body)
    return JSONResponse({"ready": True, **body})


def _not_ready(reason: str, **body: Any) -> JSONResponse:
    response = JSONResponse({"ready": False, "reason": reason, **body}, status_code=503)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests by route and status, latencies, decisions, archive failures."""
    return await request.app.state.metrics.endpoint(request)


_READINESS = oa.obj(
    {
        "ready": oa.boolean(),
        "reason": oa.string(),
        "schema_version": oa.integer(),
        "expected_schema_version": oa.integer(),
    },
    required=["ready"],
)


def routes() -> list[BaseRoute]:
    """Liveness, readiness, metrics, this API's document and its docs page: no key."""
    return [
        *apidoc.routes(
            api_route(
                "GET",
                "/health",
                health,
                ok={
                    200: oa.Answer(
                        "the process answers", oa.obj({"status": oa.string()}, required=["status"])
                    )
                },
            ),
            api_route(
                "GET",
                "/ready",
                ready,
                ok={
                    200: oa.Answer("the database answers with the current schema", _READINESS),
                    503: oa.Answer(
                        "not ready: why, in `reason`; retry after Retry-After", _READINESS
                    ),
                },
            ),
            api_route(
                "GET",
                "/metrics",
                metrics,
                ok={200: oa.Answer("Prometheus text format", media={"text/plain": oa.string()})},
            ),
            api_route(
                "GET",
                "/openapi.json",
                apidoc.openapi,
                ok={200: oa.Answer("this OpenAPI 3.0.3 document", oa.obj({}))},
            ),
        ),
        *docs_routes("BakeSight Central API"),
    ]
