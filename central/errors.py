"""Every error leaves Central as JSON: `{"error": code, "message": sentence, ...details}`."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from central.db import UNAVAILABLE_ERRORS, DatabaseUnavailable
from servicekit.routing import allowed_methods

log = logging.getLogger("central")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, /, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def response(self) -> JSONResponse:
        response = error_response(self.status, self.code, self.message, **self.details)
        if "retry_after_s" in self.details:  # the client should come back, and when
            response.headers["Retry-After"] = str(self.details["retry_after_s"])
        return response


def error_response(status: int, code: str, message: str, /, **details: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **details}, status_code=status)


def not_found(what: str, /, **details: Any) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found", **details)


def invalid(field: str, message: str, /, **details: Any) -> ApiError:
    return ApiError(422, "invalid_field", f"{field}: {message}", field=field, **details)


def conflict(code: str, message: str, /, **details: Any) -> ApiError:
    return ApiError(409, code, message, **details)


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, code, str(exc.detail), path=request.url.path)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request.app.routes, request.scope))
    return response


# Seconds a client should wait before retrying when the database is away: a Cloud SQL
# restart or failover takes from seconds to about a minute.
RETRY_AFTER_S = 2


async def on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is restarting, unreachable or busy: 503, and retrying is the right move."""
    log.warning(
        "database unavailable",
        extra={
            "request_id": request.scope.get("request_id"),
            "db_error": type(exc).__name__,
            # the driver's words (no SQL, no parameters): "Lost connection…", "Deadlock found…"
            "db_detail": str(getattr(exc, "orig", None) or exc)[:200],
        },
    )
    response = error_response(
        503,
        "database_unavailable",
        "the database is unavailable; retry shortly (with the same Idempotency-Key)",
        request_id=request.scope.get("request_id"),
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Nothing here may claim what was or was not stored: the failure can follow a commit.
    # An Idempotency-Key retry tells the client the outcome.
    log.exception("unhandled error", extra={"request_id": request.scope.get("request_id")})
    return error_response(
        500,
        "internal_error",
        "Central failed to answer; retry with the same Idempotency-Key to learn the outcome",
        request_id=request.scope.get("request_id"),
    )


exception_handlers: dict[Any, Any] = {
    ApiError: on_api_error,
    HTTPException: on_http_exception,
    DatabaseUnavailable: on_database_unavailable,
    **{error: on_database_unavailable for error in UNAVAILABLE_ERRORS},
    Exception: on_unexpected,
}
