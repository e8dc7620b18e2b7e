"""Small, explicit checks for JSON request bodies; each failure names the field."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request

from central.errors import ApiError, invalid
from contract.jsonbody import JSONBodyError, parse_json_body

_MISSING = object()
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


async def json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    try:
        data = parse_json_body(body)
    except JSONBodyError as error:
        raise ApiError(400, "invalid_json", str(error)) from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return data


def string(
    data: dict[str, Any],
    field: str,
    *,
    max_len: int,
    pattern: re.Pattern[str] | None = None,
    required: bool = True,
    default: Any = _MISSING,
) -> Any:
    value = data.get(field, _MISSING)
    if value is _MISSING or value is None:
        if required and default is _MISSING:
            raise invalid(field, "is required")
        return None if default is _MISSING else default
    if not isinstance(value, str) or not value.strip():
        raise invalid(field, "must be a non-empty string")
    value = value.strip()
    if len(value) > max_len:
        raise invalid(field, f"must be at most {max_len} characters")
    if pattern is not None and not pattern.match(value):
        raise invalid(field, f"must match {pattern.pattern}")
    return value


def integer(
    data: dict[str, Any], field: str, *, minimum: int, maximum: int, default: Any = _MISSING
) -> Any:
    value = data.get(field, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise invalid(field, "is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, "must be an integer")
    if not minimum <= value <= maximum:
        raise invalid(field, f"must be between {minimum} and {maximum}")
    return value


def boolean(data: dict[str, Any], field: str, *, default: Any = _MISSING) -> Any:
    value = data.get(field, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise invalid(field, "is required")
        return default
    if not isinstance(value, bool):
        raise invalid(field, "must be true or false")
    return value


def timezone(data: dict[str, Any], field: str, *, default: Any = _MISSING) -> Any:
    value = string(data, field, max_len=64, default=default)
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(field, "must be an IANA time zone such as Asia/Seoul") from None
    return value


def only(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise invalid(unknown[0], f"is not a known field (known: {', '.join(sorted(allowed))})")


def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, "must be an integer") from None
    if not minimum <= value <= maximum:
        raise invalid(name, f"must be between {minimum} and {maximum}")
    return value
