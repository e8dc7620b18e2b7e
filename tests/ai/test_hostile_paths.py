"""The AI service names the methods a path serves when a client uses another."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.ai.conftest import AUTH


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("GET", "/v1/infer", "POST"), ("DELETE", "/v1/products/SKU-1/photos", "GET, HEAD, POST")],
)
def test_a_wrong_method_answers_405_naming_the_allowed_ones(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    r = client.request(method, path, headers=AUTH)
    assert r.status_code == 405, r.text
    assert r.headers["Allow"] == allow
    assert r.json()["error"] == "method_not_allowed"
