"""Every JSON endpoint of the AI answers a hostile body with a 400 naming the problem."""

from __future__ import annotations

import pytest

from tests.ai.conftest import AUTH

ENDPOINTS = ["/v1/infer", "/v1/products/SCONE/photos", "/v1/feedback"]
BODIES = [
    (b"[" * 3000 + b"]" * 3000, "nests deeper"),
    (b'{"tray_id": "\\ud800", "items": []}', "lone surrogate"),
    (b'{"top_k": ' + b"7" * 5000 + b"}", "digits"),
    (b'{"top_k": NaN}', "NaN"),
]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(("body", "reason"), BODIES)
def test_hostile_json_is_a_400(client, path: str, body: bytes, reason: str) -> None:
    r = client.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_json" and reason in r.json()["message"]
