"""The admin key both services ask for, compared in constant time; an optional second, lesser key.

A client proves itself with `X-ADMIN-KEY: <key>` (what Central's AI client, the staff console and
the tests send) or `Authorization: Bearer <key>` (what scrapers and generic HTTP tools send). A
service may add a second key under its own header (Central's `X-STAFF-KEY`) with a rule saying
what that key may do; anything else is 403, naming the key it needs.

Which paths need a key: those under `protected_prefix` that are not in `open_paths`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.errors import error_response

ADMIN_HEADER = b"x-admin-key"
ADMIN = "admin"


@dataclass(frozen=True)
class LesserKey:
    """A key that may do less than the admin key: `may(method, path)` says what."""

    role: str
    header: str  # e.g. "X-STAFF-KEY"
    key: str
    may: Callable[[str, str], bool]
    refusal: str  # the 403's sentence: what this key may not do


def _bearer(headers: dict[bytes, bytes]) -> bytes | None:
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


class AdminKeyMiddleware:
    """401 without a valid key, 403 for a lesser key outside its rule; the role goes in scope."""

    def __init__(
        self,
        app: ASGIApp,
        admin_key: str,
        *,
        protected_prefix: str = "/",
        open_paths: Iterable[str] = (),
        lesser_key: LesserKey | None = None,
    ) -> None:
        if not admin_key:
            raise ValueError("the admin key must not be empty")
        self.app = app
        self._admin = admin_key.encode()
        self._lesser = lesser_key
        self._lesser_key = lesser_key.key.encode() if lesser_key else b""
        self._lesser_header = lesser_key.header.lower().encode() if lesser_key else b""
        self.protected_prefix = protected_prefix
        self.open_paths = frozenset(open_paths)
        names = "X-ADMIN-KEY" + (f" (or {lesser_key.header})" if lesser_key else "")
        self._unauthorized = f"a valid {names} header or Authorization: Bearer key is required"

    def protects(self, path: str) -> bool:
        return path.startswith(self.protected_prefix) and path not in self.open_paths

    def role(self, headers: dict[bytes, bytes]) -> str | None:
        """Who the request's key belongs to; None when no key sent matches."""
        offered = [headers.get(ADMIN_HEADER), _bearer(headers)]
        # compare_digest takes as long for a near miss as for a wild guess.
        if any(key is not None and hmac.compare_digest(key, self._admin) for key in offered):
            return ADMIN
        if self._lesser is not None:
            offered = [headers.get(self._lesser_header), _bearer(headers)]
            if any(k is not None and hmac.compare_digest(k, self._lesser_key) for k in offered):
                return self._lesser.role
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.protects(scope["path"]):
            await self.app(scope, receive, send)
            return
        role = self.role(dict(scope["headers"]))
        if role is None:
            response = error_response(401, "unauthorized", self._unauthorized)
            await response(scope, receive, send)
            return
        lesser = self._lesser
        if lesser is not None and role == lesser.role:
            if not lesser.may(scope["method"], scope["path"]):
                response = error_response(403, "forbidden", lesser.refusal, role=role)
                await response(scope, receive, send)
                return
        scope.setdefault("state", {})["role"] = role
        await self.app(scope, receive, send)
