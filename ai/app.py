"""The AI service: routes, middleware and one Starlette app built from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ai import apidoc, endpoints, references
from ai.allocator import keep_freed_memory
from ai.errors import exception_handlers
from ai.factory import build_recognizer
from ai.frames import FrameLimits
from ai.metrics import Metrics
from ai.recognizer import Recognizer
from ai.settings import Settings
from ai.trays import TrayMemory
from servicekit import openapi as oa
from servicekit.auth import AdminKeyMiddleware
from servicekit.docs import DOCS_PATHS, docs_routes
from servicekit.logs import RequestLogMiddleware
from servicekit.uploads import UploadGuardMiddleware, UploadLimits

log = logging.getLogger("ai")


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics: requests by route and status, stage timings, decisions."""
    return await request.app.state.metrics.endpoint(request)


routes = [
    *endpoints.routes,
    *references.routes,
    *apidoc.routes(
        apidoc.api_route(
            "GET",
            "/metrics",
            metrics_endpoint,
            ok={200: oa.Answer("Prometheus text format", media={"text/plain": oa.string()})},
        ),
        apidoc.api_route(
            "GET",
            "/openapi.json",
            apidoc.openapi,
            ok={200: oa.Answer("this OpenAPI 3.0.3 document", oa.obj({}))},
        ),
    ),
    *docs_routes("BakeSight AI"),
]
# No key for the document and its page: the service has no public address, they hold no secret.
# Without a key: liveness, the metrics a scraper on the VPC or the VM reads (counts and
# latencies), this document and its page. Nothing secret; the VM has no external IP and the
# firewall admits only Central's subnet.
OPEN_PATHS = apidoc.OPEN_PATHS | DOCS_PATHS


def create_app(settings: Settings, recognizer: Recognizer | None = None) -> Starlette:
    """The service for these settings; the recognizer is built now and loaded in the lifespan."""
    recognizer = recognizer if recognizer is not None else build_recognizer(settings)
    metrics = Metrics()
    middleware = [
        Middleware(
            RequestLogMiddleware,
            access_logger="ai.access",
            metrics=metrics,
            routes=routes,
            gcp_project=settings.gcp_project,
        ),
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
        # Every torch call (load, recognize, learn) runs in this one thread. Torch's OpenMP
        # gives each thread that runs an op its own team of worker threads; with two such
        # threads on a 2-core machine every tray took about 3x as long (64 -> 205 ms), even
        # when the two never ran at once.
        app.state.inference_pool = ThreadPoolExecutor(1, thread_name_prefix="inference")
        # Load in the background so /health and /ready answer (503) while a model loads.
        loading = asyncio.create_task(_load(app))
        try:
            yield
        finally:
            loading.cancel()
            app.state.inference_pool.shutdown(wait=False, cancel_futures=True)

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    return app


def _upload_limits(settings: Settings) -> UploadLimits:
    """Bodies bounded as docs/ai-contract.md says; Central sends at most a few at once."""
    return UploadLimits.from_settings(
        settings.http_limits,
        body_limit_name="AI_MAX_BODY_BYTES",
        concurrency_name="AI_MAX_CONCURRENT_UPLOADS",
        timeout_name="AI_UPLOAD_READ_TIMEOUT_SECONDS",
        too_large_code="body_too_large",
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
