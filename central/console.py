"""The staff console: static HTML, CSS and JavaScript served at /staff (no CDN, no build step).

The page holds no secret; it asks for the staff key and sends it as X-STAFF-KEY on every call.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static" / "staff"


async def to_console(request: Request) -> RedirectResponse:
    return RedirectResponse("/staff/", status_code=308)


routes = [
    Route("/staff", to_console, include_in_schema=False),
    Mount("/staff", StaticFiles(directory=STATIC, html=True), name="staff"),
]
