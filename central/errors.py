"""Every error leaves Central as JSON: `{"error": code, "message": sentence, ...details}`."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("central")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, /, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, **self.details)


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
    return error_response(exc.status_code, code, str(exc.detail), path=request.url.path)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"request_id": request.scope.get("request_id")})
    return error_response(
        500,
        "internal_error",
        "Central failed to handle the request; nothing was charged",
        request_id=request.scope.get("request_id"),
    )


exception_handlers = {
    ApiError: on_api_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
