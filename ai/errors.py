"""The one error shape every rejection takes: `{"error", "message", "frame", "limit"}`.

Some refusals add details after those four keys (a photo batch says which photos were added).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse

from servicekit.routing import allowed_methods


class ApiError(Exception):
    """A request the service refuses, answered as a 4xx (or 503) JSON body, never a traceback."""

    def __init__(
        self,
        status_code: int,
        error: str,
        message: str,
        *,
        frame: int | None = None,
        limit: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.frame = frame
        self.limit = limit
        self.details = dict(details or {})

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "error": self.error,
            "message": self.message,
            "frame": self.frame,
            "limit": self.limit,
        }
        for key, value in self.details.items():
            body.setdefault(key, value)
        return body


def error_response(status_code: int, error: str, message: str) -> JSONResponse:
    return JSONResponse(ApiError(status_code, error, message).body(), status_code=status_code)


async def api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status_code)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    # Unknown routes and wrong methods answer in the same JSON shape as everything else.
    status_code = getattr(exc, "status_code", 500)
    names = {404: "not_found", 405: "method_not_allowed"}
    response = error_response(status_code, names.get(status_code, "http_error"), str(exc))
    if status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request.app.routes, request.scope))
    return response


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the log (Starlette re-raises after this), never to the caller.
    return error_response(500, "internal_error", "the AI service failed on this request")
