"""Who may do what under /api/v1: the admin key does everything; the staff key runs the floor.

Staff (`X-STAFF-KEY`) may read everything, resolve reviews, manage a product's reference photos,
capture a counter's empty-tray background and void a bill (with a reason) — never create or
change stores, products or prices, nor open, scan, bill or pay trays. What staff may write is
an allowlist: a route added later is admin-only until it is listed here.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"


_SEGMENT = r"[^/]+"
STAFF_WRITES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, re.compile(f"^/api/v1/{path}$"))
    for method, path in [
        ("POST", r"reviews/\d+/resolve"),
        ("POST", rf"stores/\d+/products/{_SEGMENT}/photos"),
        ("DELETE", rf"stores/\d+/products/{_SEGMENT}/photos/{_SEGMENT}"),
        ("POST", rf"stores/\d+/counters/{_SEGMENT}/background"),
        ("POST", rf"tray-sessions/{_SEGMENT}/void"),
    ]
)
READS = {"GET", "HEAD"}


def staff_may(method: str, path: str) -> bool:
    """Whether the staff key may make this request."""
    if method in READS:
        return True
    return any(method == allowed and pattern.match(path) for allowed, pattern in STAFF_WRITES)
