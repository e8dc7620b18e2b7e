"""Paths a careless client or an attacker sends: ids past 64 bits, methods no route serves."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

HUGE_IDS = ["9223372036854775808", "9" * 19, "1" * 400]


@pytest.mark.parametrize("huge", HUGE_IDS)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/stores/{id}"),
        ("PATCH", "/api/v1/stores/{id}"),
        ("GET", "/api/v1/stores/{id}/products"),
        ("GET", "/api/v1/stores/{id}/products/SKU-1"),
        ("GET", "/api/v1/reviews/{id}"),
        ("POST", "/api/v1/reviews/{id}/resolve"),
    ],
)
def test_an_id_past_64_bits_names_no_row(
    client: TestClient, method: str, path: str, huge: str
) -> None:
    r = client.request(method, path.format(id=huge), json={})
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "not_found"


def test_the_largest_id_a_path_takes_is_looked_up(client: TestClient) -> None:
    r = client.get("/api/v1/stores/" + "9" * 18)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_an_existing_store_is_still_found_by_id(client: TestClient, store: dict[str, Any]) -> None:
    assert client.get(f"/api/v1/stores/{store['id']}").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/stores/1", "GET, HEAD, PATCH"),
        ("PUT", "/api/v1/stores", "GET, HEAD, POST"),
        ("GET", "/api/v1/tray-sessions/abc/checkout", "POST"),
    ],
)
def test_a_wrong_method_answers_405_naming_every_allowed_one(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    r = client.request(method, path)
    assert r.status_code == 405, r.text
    assert r.headers["Allow"] == allow
    assert r.json()["error"] == "method_not_allowed"
