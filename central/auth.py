"""`X-ADMIN-KEY` on everything under /api/v1, compared in constant time."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from central.errors import error_response

PROTECTED_PREFIX = "/api/v1"


class AdminKeyMiddleware:
    def __init__(self, app: ASGIApp, admin_key: str) -> None:
        self.app = app
        self._key = admin_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX):
            given = dict(scope["headers"]).get(b"x-admin-key", b"")
            if not hmac.compare_digest(given, self._key):
                response = error_response(
                    401, "unauthorized", "a valid X-ADMIN-KEY header is required"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
