"""Central's single-line text (names, codes, SKUs, references, who did it) refuses control
characters and line breaks with a 422 naming the field, and its document says so; a free-text
reason may hold line breaks, but no other control character."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicekit.schema import matches
from tests.openapi.apps import CENTRAL_KEY, central_app

FREE_TEXT = {"reason"}  # where a line break is part of what a person wrote
CONTROLS = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\x9b"]
LINE_BREAKS = ["\n", "\r", "\t", "\u2028"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = central_app(tmp_path_factory.mktemp("central-text"))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["X-ADMIN-KEY"] = CENTRAL_KEY
        store = client.post("/api/v1/stores", json={"code": "TEXT", "name": "Text bakery"})
        assert store.status_code == 201, store.text
        product = {"sku": "BAGEL", "name": "Bagel", "unit_price_krw": 3000}
        assert client.post("/api/v1/stores/1/products", json=product).status_code == 201
        yield client


def _strings(schema: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, rule in schema.get("properties", {}).items():
        if rule.get("type") == "string" and rule.get("format") not in ("byte", "binary"):
            yield f"{where}.{name}", rule
        items = rule.get("items", {})
        if items.get("type") == "string" and items.get("format") not in ("byte", "binary"):
            yield f"{where}.{name}[]", items
        yield from _strings(items, f"{where}.{name}[]")


def test_every_text_field_in_centrals_document_declares_no_control_characters(
    client: TestClient,
) -> None:
    checked = 0
    for path, item in client.get("/openapi.json").json()["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            for where, rule in _strings(body["schema"] if body else {}, f"{method} {path}"):
                assert "pattern" in rule, f"{where}: no pattern"
                name = re.sub(r"\[\]$", "", where.rsplit(".", 1)[1])
                refused = CONTROLS if name in FREE_TEXT else [*CONTROLS, *LINE_BREAKS]
                for control in refused:
                    assert not matches(rule["pattern"], f"A{control}B"), (where, control)
                if name in FREE_TEXT:
                    assert matches(rule["pattern"], "first line\r\nsecond\u2028third\ttabbed")
                checked += 1
    assert checked >= 12, checked


def _session(client: TestClient) -> str:
    r = client.post("/api/v1/tray-sessions", json={"store_id": 1, "counter_id": "c1"})
    assert r.status_code == 201, r.text
    return str(r.json()["uuid"])


# (method, url or a function of the client giving it, body with BAD where the text goes, field)
CASES: list[tuple[str, Any, dict[str, Any], str]] = [
    ("POST", "/api/v1/stores", {"code": "NEW1", "name": "BAD"}, "name"),
    ("POST", "/api/v1/stores", {"code": "BAD", "name": "New"}, "code"),
    ("POST", "/api/v1/stores", {"code": "NEW2", "name": "New", "timezone": "BAD"}, "timezone"),
    ("PATCH", "/api/v1/stores/1", {"name": "BAD"}, "name"),
    (
        "POST",
        "/api/v1/stores/1/products",
        {"sku": "BAD", "name": "Scone", "unit_price_krw": 1},
        "sku",
    ),
    (
        "POST",
        "/api/v1/stores/1/products",
        {"sku": "SCONE", "name": "BAD", "unit_price_krw": 1},
        "name",
    ),
    ("PATCH", "/api/v1/stores/1/products/BAGEL", {"name": "BAD"}, "name"),
    ("POST", "/api/v1/tray-sessions", {"store_id": 1, "counter_id": "BAD"}, "counter_id"),
    (
        "POST",
        "checkout",
        {"payment_status": "PAID", "payment_reference": "BAD"},
        "payment_reference",
    ),
    ("POST", "payment-attempts", {"payment_status": "BAD"}, "payment_status"),
    (
        "POST",
        "payment-attempts",
        {"payment_status": "PAID", "payment_reference": "BAD"},
        "payment_reference",
    ),
    ("POST", "void", {"reason": "wrong tray", "voided_by": "BAD"}, "voided_by"),
    ("POST", "void", {"reason": "BAD", "voided_by": "Kim"}, "reason"),
    ("POST", "/api/v1/reviews/1/resolve", {"reviewer": "BAD", "items": []}, "reviewer"),
]


def _url(client: TestClient, where: str) -> str:
    if where.startswith("/"):
        return where
    return f"/api/v1/tray-sessions/{_session(client)}/{where}"


def _with(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {key: text if value == "BAD" else value for key, value in body.items()}


@pytest.mark.parametrize(("method", "where", "body", "field"), CASES, ids=lambda c: str(c))
def test_a_control_character_in_a_text_field_is_422_naming_it(
    client: TestClient, method: str, where: str, body: dict[str, Any], field: str
) -> None:
    stores_before = client.get("/api/v1/stores").json()
    controls = ["\x00", "\x1b"] if field in FREE_TEXT else ["\x00", "\n", "\x1b", "\x85"]
    for control in controls:
        # inside, and at the end where a trim would once have hidden a line break
        for text in (f"AB{control}C", f"ABC{control}"):
            if field in FREE_TEXT and text.endswith(control):
                continue
            r = client.request(method, _url(client, where), json=_with(body, text))
            assert r.status_code == 422, f"{field}={text!r}: {r.text}"
            assert r.json()["error"] == "invalid_field" and r.json()["field"] == field, r.text
            assert field in r.json()["message"]
    assert client.get("/api/v1/stores").json() == stores_before  # nothing was written


def test_a_reason_may_span_lines_and_names_still_lose_their_spaces(client: TestClient) -> None:
    session = _session(client)
    r = client.post(
        f"/api/v1/tray-sessions/{session}/void",
        json={"reason": "scanned twice\nthe customer left", "voided_by": "Kim"},
    )
    assert r.status_code == 409 and r.json()["error"] == "not_billed", r.text  # past the check
    r = client.post("/api/v1/stores", json={"code": "SPACED", "name": "\u3000 Corner bakery "})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Corner bakery"
