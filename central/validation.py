"""Small, explicit checks for JSON request bodies and queries; each failure names the field.

The rules are the routes' OpenAPI declarations (`servicekit.openapi` schemas): `fields` checks a
body against the same schema the document shows, with Central's reading of it: strings are
trimmed of spaces first, and a missing or null field takes the schema's default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request

from central.errors import ApiError, invalid
from contract.jsonbody import JSONBodyError, parse_json_body
from servicekit import openapi as oa

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TIME_ZONE = "iana-time-zone"  # a string format: an IANA zone name such as Asia/Seoul


# What Central trims from a string field before checking it: spaces (Unicode's Zs: the space,
# no-break and ideographic spaces, ...), never a control character or a line break, which the
# field's pattern then refuses rather than a trim hiding it.
SPACES = " \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u202f\u205f\u3000"


def text(
    max_length: int,
    pattern: re.Pattern[str] | None = None,
    *,
    multiline: bool = False,
    **rules: Any,
) -> oa.Schema:
    """A non-empty string field (trimmed of spaces before it is checked).

    Without its own pattern it is one line without control characters (`oa.SINGLE_LINE`), or
    with `multiline` (free text, a reason) one that may hold tabs and line breaks.
    """
    if pattern is not None:
        chosen = pattern.pattern
    else:
        chosen = oa.MULTILINE if multiline else oa.SINGLE_LINE
    return oa.string(min_length=1, max_length=max_length, pattern=chosen, **rules)


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


def fields(data: dict[str, Any], body: oa.Schema) -> dict[str, Any]:
    """Each declared field's value (its default when missing), checked in declared order.

    Unknown fields are refused first when the schema allows no others.
    """
    properties: dict[str, oa.Schema] = body["properties"]
    if body.get("additionalProperties") is False:
        only(data, set(properties))
    required = set(body.get("required", ()))
    return {
        name: value(data, name, rule, required=name in required)
        for name, rule in properties.items()
    }


def value(data: dict[str, Any], field: str, rule: oa.Schema, *, required: bool) -> Any:
    raw = data.get(field)
    if raw is None:
        if required:
            raise invalid(field, "is required")
        return rule.get("default")
    if rule.get("type") == "string" and isinstance(raw, str):
        raw = raw.strip(SPACES)
    problem = oa.problem(rule, raw)
    if problem is not None:
        raise invalid(field, problem)
    if rule.get("format") == TIME_ZONE:
        try:
            ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid(field, "must be an IANA time zone such as Asia/Seoul") from None
    return raw


def only(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise invalid(unknown[0], f"is not a known field (known: {', '.join(sorted(allowed))})")


def query_int(request: Request, param: oa.Param) -> Any:
    """An integer query parameter as declared: its default when absent, else within bounds."""
    raw = request.query_params.get(param.name)
    if raw is None:
        return param.schema.get("default")
    try:
        number = int(raw)
    except ValueError:
        raise invalid(param.name, "must be an integer") from None
    problem = oa.problem(param.schema, number)
    if problem is not None:
        raise invalid(param.name, problem)
    return number


def one_of(field: str, raw: str, allowed: Sequence[str]) -> str:
    """`raw` in upper case, when it is one of `allowed` (case does not matter)."""
    if raw.upper() not in allowed:
        raise invalid(field, f"must be one of {', '.join(allowed)}")
    return raw.upper()
