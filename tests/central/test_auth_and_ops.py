"""X-ADMIN-KEY, health, readiness, metrics, OpenAPI and docs."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.central.conftest import ADMIN_KEY


@pytest.mark.parametrize("key", [None, "", "wrong-key", ADMIN_KEY + "x", ADMIN_KEY[:-1]])
def test_api_needs_the_admin_key(client: TestClient, key: str | None) -> None:
    headers = {} if key is None else {"X-ADMIN-KEY": key}
    client.headers.pop("X-ADMIN-KEY")
    for method, path in [
        ("GET", "/api/v1/stores"),
        ("POST", "/api/v1/stores"),
        ("GET", "/api/v1/reviews"),
    ]:
        r = client.request(method, path, headers=headers, json={"code": "X", "name": "x"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert client.get("/api/v1/stores", headers={"X-ADMIN-KEY": ADMIN_KEY}).status_code == 200


def test_health_ready_and_metrics_need_no_key(client: TestClient) -> None:
    client.headers.pop("X-ADMIN-KEY")
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    client.get("/api/v1/stores")
    metrics = client.get("/metrics").text
    assert (
        'central_http_requests_total{method="GET",route="/api/v1/stores",status="401"}' in metrics
    )


def test_ready_is_503_on_an_unmigrated_database(make_client, tmp_path) -> None:
    client = make_client(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    r = client.get("/ready")
    assert r.status_code == 503 and r.json()["ready"] is False and "schema" in r.json()["reason"]


def test_create_tables_migrates_at_start_up(make_client, tmp_path) -> None:
    client = make_client(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}", CREATE_TABLES="1")
    assert client.get("/ready").json()["ready"] is True
    assert client.post("/api/v1/stores", json={"code": "NEW", "name": "n"}).status_code == 201


def test_ready_is_503_when_the_database_is_gone(make_client, mysql) -> None:
    client = make_client(DATABASE_URL=mysql.url("bakesight_does_not_exist"))
    r = client.get("/ready")
    assert r.status_code == 503 and "database unreachable" in r.json()["reason"]


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "post" in spec["paths"]["/api/v1/tray-sessions/{session}/infer"]
    assert spec["paths"]["/api/v1/tray-sessions/{session}/infer"]["post"]["summary"].startswith(
        "Send the tray"
    )
    assert client.get("/docs").headers["content-type"].startswith("text/html")


def test_unknown_routes_answer_json(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.delete("/api/v1/stores")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_store_pagination_and_update(client: TestClient) -> None:
    ids = [
        client.post(
            "/api/v1/stores", json={"code": f"PG-{i}-{id(client)}", "name": f"s{i}"}
        ).json()["id"]
        for i in range(3)
    ]
    page = client.get("/api/v1/stores", params={"after": ids[0] - 1, "limit": 2}).json()
    assert [s["id"] for s in page["items"]] == ids[:2] and page["next_after"] == ids[1]
    rest = client.get("/api/v1/stores", params={"after": page["next_after"], "limit": 2}).json()
    assert rest["items"][0]["id"] == ids[2]
    r = client.patch(
        f"/api/v1/stores/{ids[0]}",
        json={"name": "renamed", "timezone": "Asia/Tokyo", "active": False},
    )
    assert r.status_code == 200 and (
        r.json()["name"],
        r.json()["timezone"],
        r.json()["active"],
    ) == ("renamed", "Asia/Tokyo", False)
    assert (
        client.post("/api/v1/tray-sessions", json={"store_id": ids[0], "counter_id": "c"}).json()[
            "error"
        ]
        == "store_inactive"
    )
    assert client.get("/api/v1/stores/999999999").status_code == 404
    assert client.get("/api/v1/stores", params={"limit": 0}).status_code == 422


def test_korean_and_emoji_names_round_trip(client: TestClient) -> None:
    r = client.post("/api/v1/stores", json={"code": f"KR-{id(client)}", "name": "성수 베이커리 🥐"})
    assert client.get(f"/api/v1/stores/{r.json()['id']}").json()["name"] == "성수 베이커리 🥐"
