"""Bodies `json.loads` would accept but no client of ours means are refused with a reason."""

from __future__ import annotations

import pytest

from contract.jsonbody import MAX_DEPTH, JSONBodyError, parse_json_body

HOSTILE = [
    (b"[" * 3000 + b"]" * 3000, "nests deeper"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nests deeper"),
    (b'{"code": "S1", "name": "a\\ud800"}', "lone surrogate"),
    (b'{"a\\udfff": 1}', "lone surrogate"),
    (b'{"top_k": ' + b"9" * 5000 + b"}", "more than 20 digits"),
    (b'{"count": NaN}', "NaN"),
    (b'{"score": -Infinity}', "Infinity"),
    (b'{"score": 1e400}', "out of range"),
    (b'{"name": "caf\xe9"}', "not UTF-8"),
    (b'{"name": ', "not JSON"),
]


@pytest.mark.parametrize(("body", "reason"), HOSTILE)
def test_hostile_bodies_are_refused_naming_the_problem(body: bytes, reason: str) -> None:
    with pytest.raises(JSONBodyError, match=reason):
        parse_json_body(body)


def test_ordinary_bodies_parse_as_json_does() -> None:
    body = '{"name": "크루아상 \\ud83e\\udd50", "items": [{"sku": "A", "count": 2, "s": 0.5}]}'
    assert parse_json_body(body.encode()) == {
        "name": "크루아상 🥐",
        "items": [{"sku": "A", "count": 2, "s": 0.5}],
    }
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json_body(nested) is not None
