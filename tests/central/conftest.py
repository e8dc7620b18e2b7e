"""Central runs against both databases it supports: MySQL (as on Cloud SQL) and embedded SQLite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from central import migrations
from central.app import create_app
from central.db import Database
from central.settings import Settings, load_settings
from testkit.ai_standin import AiStandIn
from testkit.mysql import MySQLServer

ADMIN_KEY = "central-admin-key-for-tests"


@pytest.fixture(scope="session", params=["mysql", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated database per backend for the session; tests isolate by their own stores."""
    if request.param == "mysql":
        server: MySQLServer = request.getfixturevalue("mysql")
        url = server.url(server.create_database())
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('central') / 'central.db'}"
    asyncio.run(_migrate(url))
    return url


async def _migrate(url: str) -> None:
    database = Database(load_settings(_env(url, "http://127.0.0.1:9")).database)
    try:
        await migrations.migrate(database)
    finally:
        await database.dispose()


def _env(database_url: str, ai_url: str, **extra: str) -> dict[str, str]:
    return {
        "ADMIN_KEY": ADMIN_KEY,
        "AI_ADMIN_KEY": "ai-admin-key-for-tests",
        "DATABASE_URL": database_url,
        "AI_BASE_URL": ai_url,
        # generous for a loaded CI machine (the stand-in shares the test's process); tests of a
        # slow AI make it slower than this
        "AI_TIMEOUT_SECONDS": "3.0",
        "AI_CONNECT_TIMEOUT_SECONDS": "1.5",
        **extra,
    }


@pytest.fixture
def tray_archive(tmp_path: Any) -> Any:
    """The folder the test's Central archives frames in."""
    return tmp_path / "trays"


@pytest.fixture
def make_settings(database_url: str, ai: AiStandIn, tray_archive: Any) -> Callable[..., Settings]:
    def make(**extra: str) -> Settings:
        extra.setdefault("TRAY_ARCHIVE", str(tray_archive))
        return load_settings(_env(database_url, ai.url, **extra))

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**extra: str) -> TestClient:
        client = TestClient(create_app(make_settings(**extra)), raise_server_exceptions=False)
        client.__enter__()
        client.headers["X-ADMIN-KEY"] = ADMIN_KEY
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def store(client: TestClient) -> dict[str, Any]:
    """A fresh store with four products; its id isolates the test's data."""
    code = f"T-{uuid.uuid4().hex[:10]}"
    created = client.post("/api/v1/stores", json={"code": code, "name": "Test bakery"})
    assert created.status_code == 201, created.text
    store = created.json()
    for sku, price in [
        ("BAGEL-PLAIN", 3200),
        ("BAGEL-SESAME", 3500),
        ("CROISSANT", 3800),
        ("SCONE", 3300),
    ]:
        r = client.post(
            f"/api/v1/stores/{store['id']}/products",
            json={"sku": sku, "name": sku.title(), "unit_price_krw": price},
        )
        assert r.status_code == 201, r.text
    return store


@pytest.fixture
def session_uuid(client: TestClient, store: dict[str, Any]) -> str:
    r = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "counter-1"}
    )
    assert r.status_code == 201, r.text
    return r.json()["uuid"]


def count_rows(client: TestClient, table: str) -> int:
    """Rows in a table, read straight from the database the app uses."""

    return int(run_sql(client, f"SELECT COUNT(*) FROM {table}"))  # noqa: S608


def run_sql(client: TestClient, sql: str, **params: Any) -> Any:
    """One statement on the app's database, committed: its first value, or rows changed."""

    async def run() -> Any:
        database = Database(client.app.state.settings.database)  # type: ignore[attr-defined]
        try:
            async with database.transaction() as conn:
                result = await conn.execute(sa.text(sql).bindparams(**params))
                return result.scalar() if result.returns_rows else result.rowcount
        finally:
            await database.dispose()

    return asyncio.run(run())
