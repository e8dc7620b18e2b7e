"""The AI service: routes, middleware and one Starlette app built from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from ai import apidoc, endpoints, references
from ai.allocator import keep_freed_memory
from ai.auth import AdminKeyMiddleware
from ai.errors import ApiError, api_error, http_error, server_error
from ai.factory import build_recognizer
from ai.frames import FrameLimits
from ai.recognizer import Recognizer
from ai.settings import Settings
from ai.trays import TrayMemory
from servicekit import openapi as oa
from servicekit.docs import DOCS_PATHS, docs_routes
from servicekit.uploads import UploadGuardMiddleware, UploadLimits

log = logging.getLogger("ai")

routes = [
    *endpoints.routes,
    *references.routes,
    *apidoc.routes(
        apidoc.api_route(
            "GET",
            "/openapi.json",
            apidoc.openapi,
            ok={200: oa.Answer("this OpenAPI 3.0.3 document", oa.obj({}))},
        )
    ),
    *docs_routes("BakeSight AI"),
]
# No key for the document and its page: the service has no public address, they hold no secret.
OPEN_PATHS = apidoc.OPEN_PATHS | DOCS_PATHS

exception_handlers = {
    ApiError: api_error,
    HTTPException: http_error,
    Exception: server_error,
}


def create_app(settings: Settings, recognizer: Recognizer | None = None) -> Starlette:
    """The service for these settings; the recognizer is built now and loaded in the lifespan."""
    recognizer = recognizer if recognizer is not None else build_recognizer(settings)
    middleware = [
        Middleware(AdminKeyMiddleware, admin_key=str(settings.admin_key), open_paths=OPEN_PATHS),
        Middleware(UploadGuardMiddleware, limits=_upload_limits(settings)),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keep_freed_memory()
        app.state.settings = settings
        app.state.frame_limits = FrameLimits(
            settings.max_frames,
            settings.max_frame_bytes,
            settings.max_frame_pixels,
            recognizer.decode_width,
        )
        app.state.recognizer = recognizer
        app.state.trays = TrayMemory(
            settings.tray_memory,
            max_age_s=settings.tray_memory_seconds,
            max_bytes=settings.tray_memory_bytes,
            keep_width=recognizer.decode_width,
        )
        app.state.ready = False
        app.state.load_error = None
        app.state.inference_pool = ThreadPoolExecutor(1, thread_name_prefix="inference")
        # Load in the background so /health and /ready answer (503) while a model loads.
        loading = asyncio.create_task(_load(app))
        try:
            yield
        finally:
            loading.cancel()
            app.state.inference_pool.shutdown(wait=False, cancel_futures=True)

    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )


def _upload_limits(settings: Settings) -> UploadLimits:
    """Bodies bounded as docs/ai-contract.md says; Central sends at most a few at once."""
    return UploadLimits(
        max_body_bytes=settings.max_body_bytes,
        max_concurrent=8,
        body_limit_name="AI_MAX_BODY_BYTES",
        too_large_code="body_too_large",
        error_body=lambda code, message, limit: ApiError(0, code, message, limit=limit).body(),
    )


async def _load(app: Starlette) -> None:
    recognizer = app.state.recognizer
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(app.state.inference_pool, recognizer.load)
    except Exception as error:
        # Stay up and say why on /ready: the log has the traceback, Central sees "not ready".
        log.exception("loading the recognizer failed")
        app.state.load_error = f"loading the model failed: {error}"
        return
    app.state.ready = True
    log.info("ready: model %s on %s", recognizer.model_version, recognizer.device)
