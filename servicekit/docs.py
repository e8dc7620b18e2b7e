"""`/docs`: Swagger UI for a service's `/openapi.json`, served from the pinned swagger-ui-bundle.

No CDN: the page and its two assets come from the installed package (Swagger UI 4.15.5 in
swagger-ui-bundle 1.1.0), so the page works on a machine without internet, such as the AI's VM.
Swagger UI's online validator badge is turned off: it would send the document to swagger.io.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

# The files the page loads, with their media types; nothing else in the package is served.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
DOCS_PATH = "/docs"
# Paths the docs need, for a service whose other paths all want a key.
DOCS_PATHS = frozenset({DOCS_PATH, *(f"{DOCS_PATH}/{name}" for name in ASSETS)})

# Assets never change within a pinned version.
_CACHE = "public, max-age=86400"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" type="image/png" href="{base}/favicon-32x32.png">
<link rel="stylesheet" href="{base}/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="{base}/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({config});</script>
</body></html>"""


def _bundle_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path  # imported when the page is first asked for

    return Path(str(swagger_ui_path))


def docs_routes(title: str, openapi_url: str = "/openapi.json") -> list[Route]:
    """The `/docs` page and its assets, for the document at `openapi_url`."""
    config = json.dumps({"url": openapi_url, "dom_id": "#ui", "validatorUrl": None})
    page = PAGE.format(title=html.escape(title), base=DOCS_PATH, config=config)

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    def asset(name: str) -> Route:
        async def serve(request: Request) -> Response:
            data = (_bundle_dir() / name).read_bytes()
            return Response(data, media_type=ASSETS[name], headers={"Cache-Control": _CACHE})

        return Route(f"{DOCS_PATH}/{name}", serve, methods=["GET"], include_in_schema=False)

    return [
        Route(DOCS_PATH, docs, methods=["GET"], include_in_schema=False),
        *(asset(name) for name in ASSETS),
    ]
