"""The AI checks each request against the schemas its document shows, rule by rule.

From the document alone, for every operation with a body or parameters: the smallest valid
request and a full one are accepted (no 422), and a request breaking one declared rule at a time
(a missing field, a wrong type, a length, a pattern, a bound, an item count, a null) is refused
with 422, `field` naming where, and the error code the schema names (`x-error-code`, else
`invalid_request`). Should a parser and the document disagree, one of these fails.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from servicekit import openapi as oa
from servicekit.schema import matches
from tests.openapi.apps import AI_KEY, ai_app

AUTH = {"X-ADMIN-KEY": AI_KEY}
# Strings tried, in order, for one that breaks a pattern yet keeps the length rules.
OFF_PATTERN = ["A\x00", "A B", "-A", "A\n", "\u2028"]
MISSING = object()  # a required field left out


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(ai_app(), raise_server_exceptions=False) as client:
        yield client


def valid(schema: oa.Schema, *, full: bool = False) -> Any:
    """The smallest value `schema` allows (with `full`, every optional property too)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "byte":
            return oa.EXAMPLE_PNG_B64
        return "A" * max(schema.get("minLength", 0), 1)
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [valid(schema["items"], full=full)] * max(schema.get("minItems", 0), 1)
    if kind == "object":
        required = set(schema.get("required", ()))
        return {
            name: valid(rule, full=full)
            for name, rule in schema.get("properties", {}).items()
            if full or name in required
        }
    raise AssertionError(f"no valid value for {schema}")


def breaking(schema: oa.Schema, required: bool) -> Iterator[tuple[str, Any]]:
    """(keyword, value) for each rule of `schema` a value can break on its own."""
    kind = str(schema.get("type"))
    if required:
        yield "required", MISSING
    elif not schema.get("nullable"):
        yield "nullable", None
    yield "type", {"string": 12345, "integer": "1", "array": "x", "object": "x"}.get(kind, [])
    if kind == "string":
        if schema.get("minLength"):
            yield "minLength", ""
        if "maxLength" in schema:
            yield "maxLength", "A" * (schema["maxLength"] + 1)
        if "pattern" in schema:
            shortest = max(schema.get("minLength", 0), 1)
            off = [
                text
                for text in OFF_PATTERN
                if len(text) >= shortest and not matches(schema["pattern"], text)
            ]
            assert off, f"no string breaks {schema['pattern']}"
            yield "pattern", off[0]
    if kind in ("integer", "number"):
        if "minimum" in schema:
            yield "minimum", schema["minimum"] - 1
        if "maximum" in schema:
            yield "maximum", schema["maximum"] + 1
    if kind == "array":
        if schema.get("minItems"):
            yield "minItems", []
        if "maxItems" in schema:
            yield "maxItems", [valid(schema["items"])] * (schema["maxItems"] + 1)


def expected_code(schema: oa.Schema, keyword: str) -> str:
    code = schema.get("x-error-code")
    if isinstance(code, dict):
        code = code.get(keyword)
    return code if isinstance(code, str) and keyword != "required" else "invalid_request"


def broken_bodies(body: oa.Schema) -> Iterator[tuple[str, str, str, Any]]:
    """(field, keyword, expected code, body) for each rule of each field, nested items too."""
    for where, rule, required, put in _fields(body):
        for keyword, bad in breaking(rule, required):
            document = valid(body, full=keyword != "required")
            put(document, bad)
            yield where, keyword, expected_code(rule, keyword), document


def _fields(body: oa.Schema, prefix: str = "", path: tuple[Any, ...] = ()) -> Iterator[Any]:
    required = set(body.get("required", ()))
    for name, rule in body.get("properties", {}).items():
        where, at = f"{prefix}{name}", (*path, name)

        def put(document: Any, value: Any, at: tuple[Any, ...] = at) -> None:
            parent = document
            for step in at[:-1]:
                parent = parent[step]
            if value is MISSING:
                del parent[at[-1]]
            else:
                parent[at[-1]] = value

        yield where, rule, name in required, put
        items = rule.get("items", {})
        if rule.get("type") == "array" and items.get("type") == "object":
            yield from _fields(items, f"{where}[0].", (*at, 0))


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for template, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), template, operation


def _url(template: str, operation: dict[str, Any], **given: str) -> str:
    url = template
    for param in operation.get("parameters", []):
        if param["in"] == "path":
            value = given.get(param["name"], valid(param["schema"]))
            # a seed's target: another store than the source the body names
            value = "T" if param["name"] == "store_id" and value == "A" else value
            url = url.replace("{" + param["name"] + "}", quote(value, safe=""))
    return url


def test_every_ai_body_rule_in_the_document_is_the_one_enforced(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    checked = 0
    for method, template, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            continue
        body, url = content["schema"], _url(template, operation)
        for full in (False, True):
            sample = valid(body, full=full)
            assert oa.problem(body, sample) is None, (template, sample)
            r = client.request(method, url, json=sample, headers=AUTH)
            assert r.status_code not in (400, 422), f"{method} {template} {sample}: {r.text}"
        for where, keyword, code, broken in broken_bodies(body):
            r = client.request(method, url, json=broken, headers=AUTH)
            case = f"{method} {template}: {where} breaking {keyword}: {r.text[:300]}"
            assert r.status_code == 422, case
            assert r.json()["field"] == where and where in r.json()["message"], case
            assert r.json()["error"] == code, case
            checked += 1
    assert checked >= 40, checked


def test_every_ai_parameter_rule_in_the_document_is_the_one_enforced(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    checked = 0
    for method, template, operation in _operations(document):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        sample = valid(body["schema"]) if body else None
        for param in operation.get("parameters", []):
            if param["in"] not in ("path", "query"):
                continue
            name, schema = param["name"], param["schema"]
            for keyword, bad in breaking(schema, required=False):
                if not isinstance(bad, str) or (param["in"] == "path" and not bad):
                    continue  # a path segment or a query value is always text, never empty
                url, query = _url(template, operation), {}
                if param["in"] == "path":
                    url = _url(template, operation, **{name: bad})
                else:
                    query = {name: bad}
                r = client.request(method, url, params=query, json=sample, headers=AUTH)
                case = f"{method} {template}: {name}={bad!r} breaking {keyword}: {r.text[:300]}"
                assert r.status_code == 422, case
                assert r.json()["field"] == name, case
                assert r.json()["error"] == expected_code(schema, keyword), case
                checked += 1
    assert checked >= 10, checked


def test_the_document_names_the_code_each_coded_rule_answers_with(client: TestClient) -> None:
    schemas = {
        template: operation
        for _, template, operation in _operations(client.get("/openapi.json").json())
    }
    infer = schemas["/v1/infer"]["requestBody"]["content"]["application/json"]["schema"]
    properties = infer["properties"]
    assert properties["candidate_skus"]["x-error-code"] == {"maxItems": "too_many_candidates"}
    assert properties["candidate_skus"]["x-limit"] == "MAX_CANDIDATES"
    assert properties["counter_id"]["x-error-code"] == "invalid_counter_id"
    assert properties["frames_b64"]["x-error-code"] == {
        "minItems": "no_frames",
        "maxItems": "too_many_frames",
    }
    assert properties["top_k"]["x-limit"] == "MAX_TOP_K"


def test_a_rule_broken_deep_in_a_body_keeps_the_codes_of_the_contract(client: TestClient) -> None:
    """The examples docs/ai-contract.md gives, answered by the schema check."""
    frames = [oa.EXAMPLE_PNG_B64]
    cases = [
        ({"frames_b64": frames, "candidate_skus": ["A"] * 5001}, "too_many_candidates"),
        ({"frames_b64": frames, "candidate_skus": ["A"], "top_k": 51}, "invalid_request"),
        (
            {"frames_b64": frames, "candidate_skus": ["A"], "counter_id": "a b"},
            "invalid_counter_id",
        ),
        ({"frames_b64": frames, "candidate_skus": ["A"], "store_id": "a/b"}, "invalid_store_id"),
        ({"frames_b64": [], "candidate_skus": ["A"]}, "no_frames"),
        ({"frames_b64": frames * 17, "candidate_skus": ["A"]}, "too_many_frames"),
    ]
    for body, code in cases:
        r = client.post("/v1/infer", json=copy.deepcopy(body), headers=AUTH)
        assert r.status_code == 422 and r.json()["error"] == code, r.text
    limits = {"too_many_candidates": "MAX_CANDIDATES", "no_frames": "AI_MAX_FRAMES"}
    for body, code in cases:
        if code in limits:
            r = client.post("/v1/infer", json=body, headers=AUTH)
            assert r.json()["limit"] == limits[code]
    within_the_schema = client.post(
        "/v1/infer", json={"frames_b64": frames * 5, "candidate_skus": ["A"]}, headers=AUTH
    )
    assert within_the_schema.json()["error"] == "too_many_frames"  # AI_MAX_FRAMES is 4 here
    assert within_the_schema.json()["limit"] == "AI_MAX_FRAMES"
    r = client.post("/v1/infer", json={"frames_b64": [7], "candidate_skus": ["A"]}, headers=AUTH)
    assert r.json()["error"] == "invalid_request" and r.json()["frame"] == 0
