"""One error body for both services: `{"error": code, "message": sentence, ...details}`.

`error` is a stable machine code, `message` a sentence for people; details (the frame index, the
limit a request passed, the request id, ...) follow as further keys, only where they apply. The
handlers here answer every refusal, unknown route, wrong method and crash in that shape; each
service adds its own (Central's database-unavailable 503) through `exception_handlers(extra=...)`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from servicekit.logs import already_logged
from servicekit.routing import allowed_methods

log = logging.getLogger("servicekit.errors")

_RESERVED = ("error", "message")


class ApiError(Exception):
    """A request the service refuses: a 4xx (or 5xx) JSON body, never a traceback.

    `ApiError(422, "invalid_field", "name: too long", field="name")`; details whose names are
    computed go in `details={...}` (keywords win over the mapping on a shared name).
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        /,
        *,
        details: Mapping[str, object] | None = None,
        **more: object,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        merged = {**(details or {}), **more}
        self.details = {k: v for k, v in merged.items() if k not in _RESERVED}

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, **self.details)

    def response(self) -> JSONResponse:
        response = JSONResponse(self.body(), status_code=self.status_code)
        if "retry_after_s" in self.details:  # the client should come back, and when
            response.headers["Retry-After"] = str(self.details["retry_after_s"])
        return response


def error_body(code: str, message: str, /, **details: object) -> dict[str, Any]:
    return {"error": code, "message": message, **details}


def error_response(status_code: int, code: str, message: str, /, **details: Any) -> JSONResponse:
    return JSONResponse(error_body(code, message, **details), status_code=status_code)


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Unknown routes and wrong methods, in the same shape; a 405 lists every allowed method."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, code, str(exc.detail), path=request.url.path)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request.app.routes, request.scope))
    return response


def unexpected_error_handler(message: str) -> Any:
    """The 500 handler: the traceback goes to the log with the request id, never to the caller.

    The request log has already written it on the request's line; it is logged here only when
    no request log saw it.
    """

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = request.scope.get("request_id")
        if not already_logged(exc):
            log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
        response = error_response(500, "internal_error", message, request_id=request_id)
        if request_id is not None:
            # Sent from outside the request log, which adds the header to every other answer.
            response.headers["X-Request-Id"] = request_id
        return response

    return on_unexpected


def exception_handlers(
    internal_message: str, extra: Mapping[Any, Any] | None = None
) -> dict[Any, Any]:
    """Starlette's `exception_handlers` for a service: these, then the service's own."""
    return {
        ApiError: on_api_error,
        HTTPException: on_http_exception,
        **(extra or {}),
        Exception: unexpected_error_handler(internal_message),
    }
