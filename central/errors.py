"""Every error leaves Central as JSON: `{"error": code, "message": sentence, ...details}`.

The error type, the body and the common handlers are servicekit's (the AI service answers in the
same shape); Central adds its shorthands and the database-unavailable 503.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from central.db import UNAVAILABLE_ERRORS, DatabaseUnavailable
from servicekit.errors import ApiError, error_response
from servicekit.errors import exception_handlers as servicekit_handlers

__all__ = ["ApiError", "conflict", "error_response", "exception_handlers", "invalid", "not_found"]

log = logging.getLogger("central")


def not_found(what: str, /, **details: Any) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found", **details)


def invalid(field: str, message: str, /, **details: Any) -> ApiError:
    return ApiError(422, "invalid_field", f"{field}: {message}", field=field, **details)


def conflict(code: str, message: str, /, **details: Any) -> ApiError:
    return ApiError(409, code, message, **details)


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


# Nothing in the 500 may claim what was or was not stored: the failure can follow a commit.
# An Idempotency-Key retry tells the client the outcome.
exception_handlers: dict[Any, Any] = servicekit_handlers(
    "Central failed to answer; retry with the same Idempotency-Key to learn the outcome",
    extra={
        DatabaseUnavailable: on_database_unavailable,
        **{error: on_database_unavailable for error in UNAVAILABLE_ERRORS},
    },
)
