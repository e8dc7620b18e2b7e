"""JSON schemas as plain dicts (OpenAPI 3.0 dialect), and the check a service makes with them.

`string`, `integer`, `obj`, … build the schema a route declares; `problem(schema, value)` says in a
few words what is wrong with a value under it, so a service's 422 names the rule the document
shows. Only the keywords these builders write are checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def problem(schema: Schema, value: Any) -> str | None:
    """What is wrong with `value` under `schema` (a sentence after the field's name), or None.

    Covers what the declarations here use: type, nullable, enum, string length and pattern,
    integer and number bounds, array length and items, object properties (required, extra).
    """
    if value is None:
        return None if schema.get("nullable") else "must not be null"
    kind = schema.get("type")
    check = _CHECKS.get(kind) if isinstance(kind, str) else None
    found = check(schema, value) if check is not None else None
    if found is None and "enum" in schema and value not in schema["enum"]:
        return f"must be one of {', '.join(map(str, schema['enum']))}"
    return found


def _string_problem(schema: Schema, value: Any) -> str | None:
    if not isinstance(value, str) or len(value) < schema.get("minLength", 0):
        return "must be a non-empty string" if schema.get("minLength") else "must be a string"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"must be at most {schema['maxLength']} characters"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return f"must match {schema['pattern']}"
    return None


def _integer_problem(schema: Schema, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    return _bounds_problem(schema, value)


def _number_problem(schema: Schema, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    return _bounds_problem(schema, value)


def _bounds_problem(schema: Schema, value: float) -> str | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
        return f"must be at least {low}" if low is not None else f"must be at most {high}"
    return None


def _boolean_problem(schema: Schema, value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _array_problem(schema: Schema, value: Any) -> str | None:
    if not isinstance(value, list):
        return "must be a list"
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    if len(value) < low or (high is not None and len(value) > high):
        return f"must hold {low} to {high} items" if high is not None else f"needs {low} items"
    items: Schema = schema.get("items") or {}
    for index, item in enumerate(value):
        found = problem(items, item)
        if found is not None:
            return f"[{index}] {found}"
    return None


def _object_problem(schema: Schema, value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    properties = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(value) - set(properties))
        if unknown:
            return f"{unknown[0]} is not a known field (known: {', '.join(sorted(properties))})"
    for name in schema.get("required", ()):
        if value.get(name) is None:
            return f"{name} is required"
    for name, rule in properties.items():
        if name in value:
            found = problem(rule, value[name])
            if found is not None:
                return f"{name} {found}"
    return None


_CHECKS: dict[str, Callable[[Schema, Any], str | None]] = {
    "string": _string_problem,
    "integer": _integer_problem,
    "number": _number_problem,
    "boolean": _boolean_problem,
    "array": _array_problem,
    "object": _object_problem,
}
