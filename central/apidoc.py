"""Central's OpenAPI: how a route is declared, the answers every route shares, and the document.

Each route module declares its routes with `api_route(...)`: the body, query and answers it names
are the ones its code checks. What holds for every route is added here, from the same facts the
middleware acts on: the keys (`central.roles`), the upload guard's 408/413/503, the server's 431,
the database's 503, a path's 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from central.auth import PROTECTED_PREFIX
from central.roles import staff_may
from servicekit import openapi as oa

ADMIN, STAFF = "adminKey", "staffKey"
SECURITY_SCHEMES = {
    ADMIN: {
        "type": "apiKey",
        "in": "header",
        "name": "X-ADMIN-KEY",
        "description": "ADMIN_KEY: may call every route.",
    },
    STAFF: {
        "type": "apiKey",
        "in": "header",
        "name": "X-STAFF-KEY",
        "description": "STAFF_KEY: reads everything; writes only what central/roles.py lists "
        "(resolve reviews, reference photos, counter backgrounds, void bills).",
    },
}

_BODY_METHODS = {"POST", "PUT", "PATCH"}
_SAMPLE = {"id": "1", "str": "x", "int": "1"}  # path values for asking central.roles
_PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")

IDEMPOTENCY_KEY = oa.Param(
    "Idempotency-Key",
    oa.string(min_length=1, max_length=191),
    "header",
    description="Makes a retry safe: the same key and body answer the stored result once.",
)
IDEMPOTENT_ERRORS = {
    400: "Idempotency-Key is not 1-191 characters (invalid_idempotency_key)",
    409: "a request with this Idempotency-Key is still running (idempotency_key_in_use)",
    422: "this Idempotency-Key was used with a different body (idempotency_key_reused)",
}


def api_route(
    method: str,
    path: str,
    endpoint: Callable[..., Any],
    *,
    ok: Mapping[int, oa.Answer],
    errors: Mapping[int, str] | None = None,
    body: oa.Schema | None = None,
    body_required: bool = True,
    params: Sequence[oa.Param] = (),
    idempotent: bool = False,
    summary: str | None = None,
) -> oa.Operation:
    """One route's declaration; `errors` are its own refusals, by status, in words."""
    refused: list[tuple[int, str]] = list((errors or {}).items())

    def add(status: int, text: str) -> None:
        refused.append((status, text))

    protected = path.startswith(PROTECTED_PREFIX)
    security: list[str] | None = None
    if protected:
        security = [ADMIN, STAFF] if staff_may(method, _sample(path)) else [ADMIN]
        add(401, "no valid X-ADMIN-KEY or X-STAFF-KEY (unauthorized)")
        if STAFF not in security:
            add(403, "the staff key may not do this (forbidden)")
        add(503, "the database is unavailable; retry after Retry-After (database_unavailable)")
    if _PARAM.search(path):
        add(404, "nothing at this path (not_found)")
    if method in _BODY_METHODS:
        add(400, "the body is not a JSON object (invalid_json)")
        add(408, "the body did not arrive in time (request_timeout)")
        add(413, "the body exceeds MAX_BODY_BYTES (payload_too_large)")
        add(503, "too many uploads at once; retry after Retry-After (too_many_uploads)")
    if body is not None or params:
        add(422, "a field or parameter breaks its rule (invalid_field, naming it)")
    if idempotent:
        for status, text in IDEMPOTENT_ERRORS.items():
            add(status, text)
    add(431, "the request line and headers exceed 64 KiB (headers_too_large)")
    return oa.Operation(
        method=method,
        path=path,
        endpoint=endpoint,
        responses=oa.answers(ok, refused),
        summary=summary,
        params=params,
        body=body,
        body_required=body_required,
        headers=(IDEMPOTENCY_KEY,) if idempotent else (),
        tags=[path.split("/")[3]] if protected else ["operations"],
        security=security if security is not None else [],
    )


def _sample(path: str) -> str:
    return _PARAM.sub(lambda match: _SAMPLE.get(match.group(2) or "str", "x"), path)


catalog = oa.Catalog(
    {
        "title": "BakeSight Central",
        "version": "1",
        "description": "The bakery self-checkout's API. Every error is JSON "
        "`{error, message, ...details}`. A method a path does not serve answers 405 "
        "`method_not_allowed` with an Allow header.",
    },
    SECURITY_SCHEMES,
)
# Route modules add their named schemas and routes through these.
schemas, routes = catalog.schemas, catalog.routes
openapi = catalog.openapi
