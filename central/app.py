"""Central's ASGI application: routes, middleware, and one Starlette(...)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from central import migrations, ops, references, reviews, stores, trays
from central.ai_client import AIClient, Timeouts
from central.auth import AdminKeyMiddleware
from central.db import make_database
from central.errors import exception_handlers
from central.limits import BodySizeLimitMiddleware
from central.logs import RequestLogMiddleware
from central.metrics import Metrics
from central.settings import Settings, load_settings

log = logging.getLogger("central")


def create_app(
    settings: Settings | None = None, ai_transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    settings = settings or load_settings()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = make_database(settings.database)
        await database.connect()
        if settings.create_tables:
            applied = await migrations.migrate(database)
            log.info("schema migrations applied", extra={"versions": applied})
        # The connect phase is short (a private IP answers at once or not at all); the read phase
        # covers the model's own time.
        connect = settings.ai_connect_timeout_s
        ai = AIClient(
            settings.ai_base_url,
            str(settings.ai_admin_key),
            timeouts=Timeouts(
                connect=connect,
                read=settings.ai_timeout_s,
                write=settings.ai_timeout_s,
                pool=connect,
            ),
            transport=ai_transport,
        )
        app.state.database, app.state.ai = database, ai
        log.info(
            "central started",
            extra={"database": settings.database.describe(), "ai": settings.ai_base_url},
        )
        try:
            yield
        finally:
            await ai.aclose()
            await database.disconnect()

    routes = [
        Route("/health", ops.health),
        Route("/ready", ops.ready),
        Route("/metrics", metrics.endpoint),
        Route("/openapi.json", ops.openapi, include_in_schema=False),
        Route("/docs", ops.docs, include_in_schema=False),
        *stores.routes,
        *references.routes,
        *trays.routes,
        *reviews.routes,
    ]
    middleware = [
        Middleware(
            RequestLogMiddleware, metrics=metrics, routes=routes, gcp_project=settings.gcp_project
        ),
        Middleware(AdminKeyMiddleware, admin_key=str(settings.admin_key)),
        Middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
    app.state.settings, app.state.metrics = settings, metrics
    return app
