"""Central answers hostile JSON bodies with a 400 naming the problem, and writes nothing."""

from __future__ import annotations

import pytest

BODIES = [
    (b"[" * 3000 + b"]" * 3000, "nests deeper"),
    (b'{"code": "S1", "name": "a\\ud800"}', "lone surrogate"),
    (b'{"code": "S1", "name": "x", "\\udc00": 1}', "lone surrogate"),
    (b'{"code": "S1", "name": "x", "timezone": ' + b"1" * 5000 + b"}", "digits"),
]


@pytest.mark.parametrize(("body", "reason"), BODIES)
def test_hostile_json_to_create_a_store_is_a_400(client, body: bytes, reason: str) -> None:
    r = client.post("/api/v1/stores", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_json" and reason in r.json()["message"]
    codes = [store["code"] for store in client.get("/api/v1/stores?limit=200").json()["items"]]
    assert "S1" not in codes  # nothing written (other tests' stores may exist)
