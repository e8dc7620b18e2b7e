"""SKUs, store codes and Idempotency-Keys are compared byte for byte, on MySQL as on SQLite.

MySQL's default collations fold case and accents; Central's identifier columns are utf8mb4_bin,
so `croissant` is not `CROISSANT` and `Café-Key` is not `CAFE-KEY` on either database.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.testclient import TestClient

from testkit.ai_standin import AiStandIn, answer, tiny_png


def test_skus_that_differ_only_in_case_are_two_products(
    client: TestClient, store: dict[str, Any]
) -> None:
    products = f"/api/v1/stores/{store['id']}/products"
    lower = client.post(products, json={"sku": "croissant", "name": "mini", "unit_price_krw": 1})
    assert lower.status_code == 201, lower.text  # the fixture's store already has CROISSANT
    assert client.get(f"{products}/croissant").json()["unit_price_krw"] == 1
    assert client.get(f"{products}/CROISSANT").json()["unit_price_krw"] == 3800
    assert client.get(f"{products}/Croissant").status_code == 404


def test_store_codes_that_differ_only_in_case_are_two_stores(client: TestClient) -> None:
    code = f"shop-{uuid.uuid4().hex[:8]}"
    first = client.post("/api/v1/stores", json={"code": code, "name": "a"})
    second = client.post("/api/v1/stores", json={"code": code.upper(), "name": "b"})
    assert first.status_code == second.status_code == 201, second.text
    again = client.post("/api/v1/stores", json={"code": code, "name": "c"})
    assert again.status_code == 409 and again.json()["error"] == "store_code_taken"


def test_idempotency_keys_differ_by_case_and_accent(
    client: TestClient, store: dict[str, Any]
) -> None:
    body = {"store_id": store["id"], "counter_id": "counter-1"}
    opened = {
        key: client.post(
            "/api/v1/tray-sessions", json=body, headers={b"Idempotency-Key": key.encode()}
        ).json()["uuid"]
        for key in ("Café-Key", "CAFE-KEY", "Cafe-Key")
    }
    assert len(set(opened.values())) == 3  # three keys, three sessions
    replay = client.post(
        "/api/v1/tray-sessions", json=body, headers={b"Idempotency-Key": "Café-Key".encode()}
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["uuid"] == opened["Café-Key"]


def test_a_tray_bills_the_sku_the_ai_named_not_its_case_twin(
    client: TestClient, store: dict[str, Any], session_uuid: str, ai: AiStandIn
) -> None:
    products = f"/api/v1/stores/{store['id']}/products"
    client.post(products, json={"sku": "scone", "name": "mini", "unit_price_krw": 100})
    ai.answer = answer("AUTO", [("scone", 2, 0.99)])
    inferred = client.post(
        f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": [tiny_png()]}
    )
    assert inferred.status_code == 201 and inferred.json()["payable"], inferred.text
    bill = client.post(f"/api/v1/tray-sessions/{session_uuid}/checkout", json={}).json()["bill"]
    assert bill["total_krw"] == 200 and bill["lines"][0]["sku"] == "scone"
