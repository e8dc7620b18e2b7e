"""Migrations: versioned, and safe when several instances start at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from central import migrations
from testkit.mysql import MySQLServer

ROOT = Path(__file__).resolve().parents[2]
ALL = [m.version for m in migrations.MIGRATIONS]


def _env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ADMIN_KEY": "central-admin-key",
        "AI_ADMIN_KEY": "ai-admin-key-x",
        "DATABASE_URL": database_url,
    }


def _start_migrators(database_url: str, n: int) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "central", "migrate"],
            cwd=ROOT,
            env=_env(database_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]


def _results(procs: list[subprocess.Popen[str]]) -> list[dict]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


@pytest.fixture(params=["mysql", "sqlite"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "mysql":
        server: MySQLServer = request.getfixturevalue("mysql")
        return server.url(server.create_database("migrate"))
    return f"sqlite:///{tmp_path / 'fresh.db'}"


def test_instances_migrating_at_once_apply_each_version_once(fresh_url: str) -> None:
    results = _results(_start_migrators(fresh_url, 3))
    applied = [r["migrations_applied"] for r in results]
    assert sorted(applied) == [[], [], [m.version for m in migrations.MIGRATIONS]]
    assert all(r["schema_version"] == migrations.LATEST_VERSION for r in results)


def test_migrate_again_is_a_no_op(fresh_url: str) -> None:
    first = _results(_start_migrators(fresh_url, 1))[0]
    second = _results(_start_migrators(fresh_url, 1))[0]
    assert first["migrations_applied"] == ALL and second["migrations_applied"] == []


def test_a_second_instance_waits_for_the_lock(mysql: MySQLServer) -> None:
    """While one instance holds the migration lock, another waits instead of racing the DDL."""
    name = mysql.create_database("locked")
    holder = mysql.connect(name)
    with holder.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 5)", (migrations.LOCK_NAME,))
    [proc] = _start_migrators(mysql.url(name), 1)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
    with holder.cursor() as cur:
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == ()  # nothing created while the lock was held
        cur.execute("SELECT RELEASE_LOCK(%s)", (migrations.LOCK_NAME,))
    holder.close()
    assert _results([proc])[0]["migrations_applied"] == ALL


def test_runbook_unix_socket_url_works_as_written(mysql: MySQLServer) -> None:
    """mysql+pymysql://user:pass@/db?unix_socket=…&charset=utf8mb4, exactly the runbook's form."""
    if not mysql.unix_socket:
        pytest.skip(f"the {mysql.kind} MySQL server exposes no unix socket to this machine")
    name = mysql.create_database("socket")
    results = _results(
        [
            subprocess.Popen(
                [sys.executable, "-m", "central", "seed"],
                cwd=ROOT,
                env=_env(mysql.socket_url(name)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        ]
    )
    assert results[0]["products_added"] == 24
    with mysql.connect(name) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM products WHERE sku = 'RED-BEAN-BUN'")
        assert cur.fetchone() == ("Red bean bun (danpatppang)",)
        cur.execute(
            "SELECT TABLE_COLLATION FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA=%s AND TABLE_NAME='products'",
            (name,),
        )
        assert cur.fetchone()[0].startswith("utf8mb4")
