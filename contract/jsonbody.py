"""Parse a request body as JSON that both services can trust, or say in one line why not.

`json.loads` accepts things no client of ours means and that crash code further in: nesting deep
enough to exhaust the recursion limit, integers of thousands of digits, `NaN` and `Infinity`,
and escaped lone surrogates (`"\\ud800"`) that cannot be written to a database or a log. Each is a
`JSONBodyError` here, so the services answer 400 naming the problem instead of a 500.

The checks cost almost nothing on the large bodies (a tray's frames are megabytes of base64):
the surrogate walk runs only when the raw bytes hold an escaped surrogate at all.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32  # our bodies nest three levels; a client needing more is not one of ours
MAX_INT_DIGITS = 20  # above any id, count or price; far below Python's 4,300-digit limit

_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONBodyError(ValueError):
    """The body is not JSON a service accepts; the message names the problem."""


def parse_json_body(body: bytes) -> Any:
    """The body's JSON value, or JSONBodyError naming what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JSONBodyError(f"the body is not UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
        )
    except RecursionError:
        raise JSONBodyError(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except JSONBodyError:
        raise
    except ValueError as error:  # json.JSONDecodeError is one
        raise JSONBodyError(f"the body is not JSON: {error}") from None
    _check_depth(value)
    if _ESCAPED_SURROGATE.search(body):
        _check_surrogates(value)
    return value


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONBodyError(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONBodyError(f"the number {text[:40]} is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise JSONBodyError(f"{name} is not a JSON number")


def _check_depth(value: Any) -> None:
    # Iterative, so the check itself cannot exhaust the stack.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise JSONBodyError(f"the body nests deeper than {MAX_DEPTH} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def _check_surrogates(value: Any) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _LONE_SURROGATE.search(node):
                raise JSONBodyError("a string holds a lone surrogate (\\ud800-\\udfff), not text")
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
