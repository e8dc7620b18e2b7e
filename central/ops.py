"""Operations: liveness, readiness, OpenAPI and its docs page."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.schemas import SchemaGenerator

from central import migrations
from central.db import Database
from central.errors import RETRY_AFTER_S


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


class _Schemas(SchemaGenerator):
    """OpenAPI from the routes and their docstrings (first line: summary)."""

    def get_schema(self, routes: list[Any]) -> dict[str, Any]:
        schema = dict(self.base_schema)
        schema.setdefault("paths", {})
        for endpoint in self.get_endpoints(routes):
            doc = inspect.getdoc(endpoint.func) or ""
            summary, _, description = doc.partition("\n")
            operation: dict[str, Any] = {
                "summary": summary,
                "responses": {"200": {"description": "OK"}},
            }
            if description.strip():
                operation["description"] = description.strip()
            if endpoint.path.startswith("/api/v1"):
                operation["security"] = [{"adminKey": []}]
                operation["tags"] = [endpoint.path.split("/")[3]]
            schema["paths"].setdefault(endpoint.path, {})[endpoint.http_method] = operation
        return schema


schemas = _Schemas(
    {
        "openapi": "3.0.3",
        "info": {"title": "BakeSight Central", "version": "1"},
        "components": {
            "securitySchemes": {
                "adminKey": {"type": "apiKey", "in": "header", "name": "X-ADMIN-KEY"}
            }
        },
    }
)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(schemas.get_schema(request.app.routes))


DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>BakeSight Central API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(DOCS_PAGE)
