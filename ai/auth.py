"""Every route but liveness needs `X-ADMIN-KEY: <AI_ADMIN_KEY>`."""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ai.errors import error_response

HEADER = "x-admin-key"


class AdminKeyMiddleware:
    def __init__(self, app: ASGIApp, admin_key: str, open_paths: frozenset[str]) -> None:
        self.app = app
        self.admin_key = admin_key.encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(HEADER, "").encode()
        # compare_digest takes as long for a near miss as for a wild guess.
        if hmac.compare_digest(given, self.admin_key):
            await self.app(scope, receive, send)
            return
        response = error_response(401, "unauthorized", "missing or wrong X-ADMIN-KEY header")
        await response(scope, receive, send)
