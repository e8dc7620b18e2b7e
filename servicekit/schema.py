"""JSON schemas as plain dicts (OpenAPI 3.0 dialect), and the check a service makes with them.

`string`, `integer`, `obj`, … build the schema a route declares; `problem(schema, value)` says in a
few words what is wrong with a value under it, so a service's 422 names the rule the document
shows. Only the keywords these builders write are checked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]


def _schema(kind: str | None, description: str | None, nullable: bool, **rules: Any) -> Schema:
    schema: Schema = {} if kind is None else {"type": kind}
    schema.update({key: value for key, value in rules.items() if value is not None})
    if nullable:
        schema["nullable"] = True
    if description:
        schema["description"] = description
    return schema


def string(
    *,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    enum: Sequence[str] | None = None,
    format: str | None = None,
    default: str | None = None,
    nullable: bool = False,
    description: str | None = None,
) -> Schema:
    return _schema(
        "string",
        description,
        nullable,
        minLength=min_length,
        maxLength=max_length,
        pattern=pattern,
        enum=list(enum) if enum is not None else None,
        format=format,
        default=default,
    )


def integer(
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
    nullable: bool = False,
    description: str | None = None,
) -> Schema:
    return _schema(
        "integer", description, nullable, minimum=minimum, maximum=maximum, default=default
    )


def number(
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    nullable: bool = False,
    description: str | None = None,
) -> Schema:
    return _schema("number", description, nullable, minimum=minimum, maximum=maximum)


def boolean(
    *, default: bool | None = None, nullable: bool = False, description: str | None = None
) -> Schema:
    return _schema("boolean", description, nullable, default=default)


def array(
    items: Schema,
    *,
    min_items: int | None = None,
    max_items: int | None = None,
    nullable: bool = False,
    description: str | None = None,
    example: list[Any] | None = None,
) -> Schema:
    return _schema(
        "array",
        description,
        nullable,
        items=items,
        minItems=min_items,
        maxItems=max_items,
        example=example,
    )


def obj(
    properties: Mapping[str, Schema],
    *,
    required: Iterable[str] = (),
    additional: bool | Schema = True,
    nullable: bool = False,
    description: str | None = None,
) -> Schema:
    """An object; `required` names its required keys, `additional` whether others may come."""
    schema = _schema("object", description, nullable, properties=dict(properties))
    needed = list(required)
    if needed:
        schema["required"] = needed
    if additional is not True:
        schema["additionalProperties"] = additional
    return schema


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """The same schema, also allowing null (3.0's `nullable`; a `$ref` is wrapped in allOf)."""
    if "$ref" in schema:
        return {"allOf": [schema], "nullable": True}
    return {**schema, "nullable": True}


# Single-line text (names, codes, references): no C0 or C1 control character and no Unicode line
# or paragraph separator, so no line break, NUL or escape sequence reaches a log line, a receipt
# or a database column.
SINGLE_LINE = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"
# Free text (a reason): line breaks and tabs are fine, other control characters are not.
MULTILINE = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
# What a broken pattern means, in words, for the patterns that have a name.
_PATTERN_WORDS = {
    SINGLE_LINE: "must be one line without control characters",
    MULTILINE: "must not hold control characters other than tabs and line breaks",
}


def coded(schema: Schema, error: str | Mapping[str, str], limit: str | None = None) -> Schema:
    """The schema, annotated with the error code (and limit) a service answers when it is broken.

    `error` is one code, or codes by the keyword broken (`{"maxItems": "too_many_candidates"}`;
    a keyword it does not name falls back to the enclosing schema's code). Kept in the document
    as `x-error-code` and `x-limit`, so a client reads there which code each rule answers with.
    """
    out = {**schema, "x-error-code": error if isinstance(error, str) else dict(error)}
    if limit is not None:
        out["x-limit"] = limit
    return out


@dataclass(frozen=True)
class Violation:
    """The first rule a value breaks: where (keys and indexes), in words, and the schema broken."""

    path: tuple[str | int, ...]
    text: str
    rule: Schema
    keyword: str  # the keyword broken: type, minLength, pattern, required, …
    # The schemas from the root down to `rule`, so a service can look for the nearest annotation.
    trail: tuple[Schema, ...] = ()

    def field(self) -> str:
        """The path as a client writes it: `items[0].count`."""
        out = ""
        for step in self.path:
            out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
        return out

    def __str__(self) -> str:
        words = [f"[{step}]" if isinstance(step, int) else step for step in self.path]
        return " ".join([*words, self.text])


def problem(schema: Schema, value: Any) -> str | None:
    """What is wrong with `value` under `schema` (a sentence after the field's name), or None.

    Covers what the declarations here use: type, nullable, enum, string length and pattern,
    integer and number bounds, array length and items, object properties (required, extra).
    """
    found = violation(schema, value)
    return None if found is None else str(found)


def violation(schema: Schema, value: Any) -> Violation | None:
    """The first rule `value` breaks under `schema` (in declared order), or None."""
    found = _violation(schema, value)
    if found is None:
        return None
    path, text, rule, keyword, trail = found
    return Violation(tuple(path), text, rule, keyword, tuple(trail))


_Found = tuple[list[str | int], str, Schema, str, list[Schema]]


def _violation(schema: Schema, value: Any) -> _Found | None:
    if value is None:
        if schema.get("nullable"):
            return None
        return [], "must not be null", schema, "nullable", [schema]
    kind = schema.get("type")
    check = _CHECKS.get(kind) if isinstance(kind, str) else None
    found = check(schema, value) if check is not None else None
    if found is None and "enum" in schema and value not in schema["enum"]:
        return [], f"must be one of {', '.join(map(str, schema['enum']))}", schema, "enum", [schema]
    if found is None or len(found) == 5:  # a violation inside the value, already placed
        return found
    text, keyword = found
    return [], text, schema, keyword, [schema]


def _inside(step: str | int, schema: Schema, found: _Found | None) -> _Found | None:
    """A violation found in a part of the value, seen from the whole."""
    if found is None:
        return None
    path, text, rule, keyword, trail = found
    return [step, *path], text, rule, keyword, [schema, *trail]


def matches(pattern: str, value: str) -> bool:
    """Whether `value` matches a schema pattern, read as JSON Schema reads it (ECMA 262): `$` is
    the end of the text, where Python's would also match before a final line break."""
    return _compiled(pattern).search(value) is not None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out))


_Check = Callable[[Schema, Any], "tuple[str, str] | _Found | None"]


def _string_problem(schema: Schema, value: Any) -> tuple[str, str] | None:
    if not isinstance(value, str):
        return (
            "must be a non-empty string" if schema.get("minLength") else "must be a string"
        ), "type"
    if len(value) < schema.get("minLength", 0):
        return "must be a non-empty string", "minLength"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"must be at most {schema['maxLength']} characters", "maxLength"
    pattern = schema.get("pattern")
    if pattern is not None and not matches(pattern, value):
        return _PATTERN_WORDS.get(pattern, f"must match {pattern}"), "pattern"
    return None


def _integer_problem(schema: Schema, value: Any) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer", "type"
    return _bounds_problem(schema, value)


def _number_problem(schema: Schema, value: Any) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number", "type"
    return _bounds_problem(schema, value)


def _bounds_problem(schema: Schema, value: float) -> tuple[str, str] | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    below, above = low is not None and value < low, high is not None and value > high
    if below or above:
        keyword = "minimum" if below else "maximum"
        if low is not None and high is not None:
            return f"must be between {low} and {high}", keyword
        return (f"must be at least {low}" if below else f"must be at most {high}"), keyword
    return None


def _boolean_problem(schema: Schema, value: Any) -> tuple[str, str] | None:
    return None if isinstance(value, bool) else ("must be true or false", "type")


def _array_problem(schema: Schema, value: Any) -> tuple[str, str] | _Found | None:
    if not isinstance(value, list):
        return "must be a list", "type"
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    if len(value) < low or (high is not None and len(value) > high):
        keyword = "minItems" if len(value) < low else "maxItems"
        text = f"must hold {low} to {high} items" if high is not None else f"needs {low} items"
        return text, keyword
    items: Schema = schema.get("items") or {}
    for index, item in enumerate(value):
        found = _inside(index, schema, _violation(items, item))
        if found is not None:
            return found
    return None


def _object_problem(schema: Schema, value: Any) -> tuple[str, str] | _Found | None:
    if not isinstance(value, dict):
        return "must be an object", "type"
    properties = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(value) - set(properties))
        if unknown:
            known = ", ".join(sorted(properties))
            text = f"is not a known field (known: {known})"
            return [unknown[0]], text, schema, "additionalProperties", [schema]
    for name in schema.get("required", ()):
        if value.get(name) is None:
            rule = properties.get(name, {})
            return [name], "is required", rule, "required", [schema, rule]
    for name, rule in properties.items():
        if name in value:
            found = _inside(name, schema, _violation(rule, value[name]))
            if found is not None:
                return found
    return None


_CHECKS: dict[str, _Check] = {
    "string": _string_problem,
    "integer": _integer_problem,
    "number": _number_problem,
    "boolean": _boolean_problem,
    "array": _array_problem,
    "object": _object_problem,
}
