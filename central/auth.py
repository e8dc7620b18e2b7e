"""Keys on everything under /api/v1, compared in constant time.

`X-ADMIN-KEY` (ADMIN_KEY) may do everything; `X-STAFF-KEY` (STAFF_KEY, when set) what
`central.roles` allows staff — anything else is 403, naming the admin key it needs.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from central.errors import error_response
from central.roles import Role, staff_may

PROTECTED_PREFIX = "/api/v1"


class AdminKeyMiddleware:
    def __init__(self, app: ASGIApp, admin_key: str, staff_key: str | None = None) -> None:
        self.app = app
        self._key = admin_key.encode()
        self._staff_key = staff_key.encode() if staff_key else None

    def _role(self, headers: dict[bytes, bytes]) -> Role | None:
        if hmac.compare_digest(headers.get(b"x-admin-key", b""), self._key):
            return Role.ADMIN
        staff = headers.get(b"x-staff-key")
        if self._staff_key is not None and staff is not None:
            if hmac.compare_digest(staff, self._staff_key):
                return Role.STAFF
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX):
            role = self._role(dict(scope["headers"]))
            if role is None:
                response = error_response(
                    401,
                    "unauthorized",
                    "a valid X-ADMIN-KEY (or X-STAFF-KEY) header is required",
                )
                await response(scope, receive, send)
                return
            if role == Role.STAFF and not staff_may(scope["method"], scope["path"]):
                response = error_response(
                    403,
                    "forbidden",
                    "the staff key may not do this (stores, products and prices, opening, "
                    "scanning and billing trays need the admin key)",
                    role=role.value,
                )
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["role"] = role.value
        await self.app(scope, receive, send)
