"""The schema a route declares is the check its body gets: each problem in a few words."""

from __future__ import annotations

import pytest

from servicekit import schema as s

STORE = s.obj(
    {
        "code": s.string(min_length=1, max_length=4, pattern="^[A-Z]+$"),
        "price": s.integer(minimum=0, maximum=100),
        "active": s.boolean(),
        "tags": s.array(s.string(enum=["a", "b"]), max_items=2),
        "note": s.string(nullable=True),
    },
    required=["code"],
    additional=False,
)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"code": "AB"}, None),
        ({"code": "AB", "note": None, "tags": ["a"], "price": 0, "active": False}, None),
        ({}, "code is required"),
        ({"code": None}, "code is required"),
        ({"code": "AB", "colour": 1}, "colour is not a known field (known: active, code, "),
        ({"code": ""}, "code must be a non-empty string"),
        ({"code": 7}, "code must be a non-empty string"),
        ({"code": "ABCDE"}, "code must be at most 4 characters"),
        ({"code": "ab"}, "code must match ^[A-Z]+$"),
        ({"code": "A", "price": 101}, "price must be between 0 and 100"),
        ({"code": "A", "price": True}, "price must be an integer"),
        ({"code": "A", "active": "yes"}, "active must be true or false"),
        ({"code": "A", "tags": ["a", "b", "a"]}, "tags must hold 0 to 2 items"),
        ({"code": "A", "tags": ["c"]}, "tags [0] must be one of a, b"),
        ([], "must be an object"),
    ],
)
def test_a_value_breaking_a_declared_rule_is_named(value: object, problem: str | None) -> None:
    found = s.problem(STORE, value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem), found


def test_null_is_refused_unless_the_schema_allows_it() -> None:
    assert s.problem(s.integer(), None) == "must not be null"
    assert s.problem(s.integer(nullable=True), None) is None
    assert s.nullable(s.ref("Bill")) == {
        "allOf": [{"$ref": "#/components/schemas/Bill"}],
        "nullable": True,
    }
