"""Central's ASGI application: routes, middleware, and one Starlette(...)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware

from central import (
    bills,
    console,
    evidence,
    migrations,
    ops,
    payments,
    references,
    reviews,
    stores,
    trays,
)
from central.ai_client import AIClient, Timeouts
from central.auth import AdminKeyMiddleware, key_middleware_options
from central.db import Database
from central.errors import exception_handlers
from central.idempotency import lease_for
from central.inference import sweep_forever
from central.metrics import Metrics
from central.settings import Settings, load_settings
from servicekit.correlation import forwarded_headers
from servicekit.logs import RequestLogMiddleware
from servicekit.uploads import UploadGuardMiddleware, UploadLimits

log = logging.getLogger("central")


def create_app(
    settings: Settings | None = None, ai_transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    settings = settings or load_settings()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = Database(settings.database)
        if settings.create_tables:
            applied = await migrations.migrate(database)
            log.info("schema migrations applied", extra={"versions": applied})
        ai = AIClient(
            settings.ai_base_url,
            str(settings.ai_admin_key),
            # The deadline is the whole answer; connecting to a private IP answers at once or
            # not at all; a free pooled connection is waited for up to the deadline.
            timeouts=Timeouts(
                total=settings.ai_timeout_s,
                connect=settings.ai_connect_timeout_s,
                pool=settings.ai_timeout_s,
            ),
            max_connections=settings.ai_max_connections,
            transport=ai_transport,
            # The request id and trace of the request being answered: the AI logs them too.
            call_headers=forwarded_headers,
        )
        app.state.database, app.state.ai = database, ai
        app.state.readiness = ops.Readiness(database)
        sweeper = asyncio.create_task(sweep_forever(database, lease_for(settings)))
        log.info(
            "central started",
            extra={
                "database": settings.database.describe(),
                "ai": settings.ai_base_url,
                "tray_archive": settings.tray_archive.describe(),
            },
        )
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await ai.aclose()
            await database.dispose()

    routes = [
        *ops.routes(),
        *stores.routes,
        *references.routes,
        *trays.routes,
        *reviews.routes,
        *evidence.routes,
        *payments.routes,
        *bills.routes,
        *console.routes,
    ]
    middleware = [
        Middleware(
            RequestLogMiddleware,
            access_logger="central.access",
            metrics=metrics,
            routes=routes,
            gcp_project=settings.gcp_project,
        ),
        Middleware(
            AdminKeyMiddleware,
            **key_middleware_options(
                str(settings.admin_key),
                str(settings.staff_key) if settings.staff_key is not None else None,
            ),
        ),
        Middleware(UploadGuardMiddleware, limits=UploadLimits.from_settings(settings.http_limits)),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
    app.state.settings, app.state.metrics = settings, metrics
    return app
