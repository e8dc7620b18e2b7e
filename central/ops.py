"""Operations: liveness, readiness, OpenAPI and its docs page."""

from __future__ import annotations

import inspect
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.schemas import SchemaGenerator

from central import migrations


async def health(request: Request) -> JSONResponse:
    """Liveness: the process answers. No I/O, so a slow database never restarts instances."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    """Readiness: the database answers and its schema is the one this code expects."""
    try:
        version = await migrations.current_version(request.app.state.database)
    except Exception as exc:
        return JSONResponse(
            {"ready": False, "reason": f"database unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    body: dict[str, Any] = {
        "schema_version": version,
        "expected_schema_version": migrations.LATEST_VERSION,
    }
    if version != migrations.LATEST_VERSION:
        return JSONResponse(
            {
                "ready": False,
                "reason": "schema not current: run migrations (CREATE_TABLES=1)",
                **body,
            },
            status_code=503,
        )
    return JSONResponse({"ready": True, **body})


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
