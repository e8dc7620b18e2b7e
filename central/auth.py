"""Keys on everything under /api/v1, compared in constant time (servicekit's middleware).

`X-ADMIN-KEY` (ADMIN_KEY) may do everything; `X-STAFF-KEY` (STAFF_KEY, when set) what
`central.roles` allows staff — anything else is 403, naming the admin key it needs. Either key may
also come as `Authorization: Bearer <key>`.
"""

from __future__ import annotations

from typing import Any

from central.roles import Role, staff_may
from servicekit.auth import AdminKeyMiddleware, LesserKey

PROTECTED_PREFIX = "/api/v1"

STAFF_REFUSAL = (
    "the staff key may not do this (stores, products and prices, opening, "
    "scanning and billing trays need the admin key)"
)


def key_middleware_options(admin_key: str, staff_key: str | None) -> dict[str, Any]:
    """The keyword arguments of `Middleware(AdminKeyMiddleware, ...)` for Central."""
    staff = (
        LesserKey(Role.STAFF.value, "X-STAFF-KEY", staff_key, staff_may, STAFF_REFUSAL)
        if staff_key
        else None
    )
    return {"admin_key": admin_key, "protected_prefix": PROTECTED_PREFIX, "lesser_key": staff}


__all__ = ["PROTECTED_PREFIX", "AdminKeyMiddleware", "key_middleware_options"]
