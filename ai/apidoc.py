"""The AI service's OpenAPI: how its routes are declared, and the answers all of them share.

The bodies' and parameters' schemas live in `ai.body`, which checks every request against them
before its parsers read it. What holds for every route is added here from what the middleware
does: the admin key (401), the upload guard (408, 413, 503), the server's header cap (431).
`/openapi.json` and `/docs` need no key: the service has no public address, and the document
holds no secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from servicekit import openapi as oa

ADMIN = "adminKey"
SECURITY_SCHEMES = {
    ADMIN: {
        "type": "apiKey",
        "in": "header",
        "name": "X-ADMIN-KEY",
        "description": "AI_ADMIN_KEY: every route but /health, /metrics, /openapi.json and /docs.",
    }
}
OPEN_PATHS = frozenset({"/health", "/metrics", "/openapi.json"})
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def api_route(
    method: str,
    path: str,
    endpoint: Callable[..., Any],
    *,
    ok: Mapping[int, oa.Answer],
    errors: Mapping[int, str] | None = None,
    body: oa.Schema | None = None,
    params: Sequence[oa.Param] = (),
    path_params: Mapping[str, oa.Schema] | None = None,
    learns: bool = False,
    summary: str | None = None,
) -> oa.Operation:
    """One route's declaration; `errors` are its own refusals, by status, in words."""
    refused: list[tuple[int, str]] = list((errors or {}).items())

    def add(status: int, text: str) -> None:
        refused.append((status, text))

    keyed = path not in OPEN_PATHS
    if keyed:
        add(401, "X-ADMIN-KEY is missing or wrong (unauthorized)")
    if method in _BODY_METHODS:
        add(400, "the body is not JSON or not UTF-8 (invalid_json)")
        add(408, "the body did not arrive in time (request_timeout)")
        add(413, "the body passes AI_MAX_BODY_BYTES (body_too_large)")
        add(503, "too many uploads at once; retry after Retry-After (too_many_uploads)")
        add(422, "a field is missing or breaks its rule (invalid_request and others, naming it)")
    if learns:
        add(501, "this recognizer cannot change its gallery (cannot_learn)")
        add(503, "the model is still loading, or failed to load (not_ready)")
    add(431, "the request line and headers exceed 64 KiB (headers_too_large)")
    return oa.Operation(
        method=method,
        path=path,
        endpoint=endpoint,
        responses=oa.answers(ok, refused),
        summary=summary,
        params=params,
        path_params=path_params or {},
        body=body,
        tags=["v1"] if path.startswith("/v1/") else ["operations"],
        security=[ADMIN] if keyed else [],
    )


catalog = oa.Catalog(
    {
        "title": "BakeSight AI",
        "version": "1",
        "description": "Tray recognition for Central (docs/ai-contract.md). Every error is "
        "JSON `{error, message, frame, limit, ...details}`. A method a path does not serve "
        "answers 405 `method_not_allowed` with an Allow header.",
    },
    SECURITY_SCHEMES,
)
# Route modules add their named schemas and routes through these.
schemas, routes = catalog.schemas, catalog.routes
openapi = catalog.openapi
