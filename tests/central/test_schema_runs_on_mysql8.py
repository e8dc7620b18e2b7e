"""The schema is written in what MySQL 8.0 (Cloud SQL) accepts, and upgrades deployed databases.

The suite runs on MariaDB or SQLite here, which accept syntax MySQL 8.0 rejects; so every
migration's DDL is also rendered for MySQL and checked against the MySQL 8.0 manual.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import dialect as mysql_dialect
from sqlalchemy.schema import CreateTable

from central import migrations, tables
from central.db import Database
from central.dburl import parse_database_url
from testkit.mysql import MySQLServer

# MariaDB-only syntax, each with the MySQL 8.0 manual page that shows it is not MySQL's.
MARIADB_ONLY = [
    (
        r"\b(CREATE|DROP)\s+(UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX\s+IF\s+(NOT\s+)?EXISTS",
        "index IF [NOT] EXISTS: https://dev.mysql.com/doc/refman/8.0/en/create-index.html",
    ),
    (
        r"\b(ADD|DROP|MODIFY|CHANGE)\s+(COLUMN\s+|INDEX\s+|KEY\s+)?IF\s+(NOT\s+)?EXISTS",
        "ALTER … IF [NOT] EXISTS: https://dev.mysql.com/doc/refman/8.0/en/alter-table.html",
    ),
    (
        r"\bCREATE\s+OR\s+REPLACE\s+TABLE",
        "CREATE OR REPLACE TABLE: https://dev.mysql.com/doc/refman/8.0/en/create-table.html",
    ),
    (
        r"\bRETURNING\b",
        "RETURNING: https://dev.mysql.com/doc/refman/8.0/en/insert.html",
    ),
    (
        r"\b(CREATE|ALTER|DROP)\s+SEQUENCE\b|\bNEXTVAL\s*\(|\bNEXT\s+VALUE\s+FOR\b",
        "sequences: https://dev.mysql.com/doc/refman/8.0/en/example-auto-increment.html",
    ),
    (
        r"\bWITH\s+SYSTEM\s+VERSIONING\b",
        "system-versioned tables: https://dev.mysql.com/doc/refman/8.0/en/create-table.html",
    ),
    (
        r"\s(INET4|INET6|UUID)\b\s*(NOT\s+NULL|NULL|,)",
        "MariaDB-only data types: https://dev.mysql.com/doc/refman/8.0/en/data-types.html",
    ),
]


def mysql_ddl() -> list[tuple[int, str]]:
    """Every statement of every migration, as Central sends it to MySQL."""
    dialect = mysql_dialect()
    return [
        (migration.version, str(statement.compile(dialect=dialect)))
        for migration in migrations.MIGRATIONS
        for statement in migration.plan("mysql")
    ]


def test_every_migration_is_mysql_8_syntax() -> None:
    statements = mysql_ddl()
    assert len(statements) > 10  # the schema really was rendered
    problems = [
        f"migration {version}: {why}\n    {sql.strip()[:160]}"
        for version, sql in statements
        for pattern, why in MARIADB_ONLY
        if re.search(pattern, sql, re.IGNORECASE)
    ]
    assert not problems, "MariaDB-only syntax that MySQL 8.0 rejects:\n" + "\n".join(problems)


def test_the_check_catches_what_mysql_8_rejected() -> None:
    """The statement that kept Central from starting on Cloud SQL would fail the check."""
    rejected = "CREATE INDEX IF NOT EXISTS ix_tray_sessions_store_id ON tray_sessions (store_id)"
    assert any(re.search(pattern, rejected, re.IGNORECASE) for pattern, _ in MARIADB_ONLY)


def test_identifiers_are_binary_and_money_is_bigint_on_mysql() -> None:
    ddl = "\n".join(sql for _, sql in mysql_ddl())
    for column in ("sku", "code", "idem_key", "uuid", "counter_id"):
        assert re.search(
            rf"\b{column} VARCHAR\(\d+\) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", ddl
        )
    for column in ("total_krw", "unit_price_krw", "line_total_krw"):
        assert re.search(rf"\b{column} BIGINT NOT NULL", ddl)


# ---- deployed databases upgrade ----------------------------------------------------------


def _run(url: str, *sql: str) -> list[int]:
    """Run raw statements, then migrate; the versions the migration applied."""

    async def go() -> list[int]:
        database = Database(parse_database_url(url))
        try:
            async with database.transaction() as conn:
                for statement in sql:
                    await conn.execute(sa.text(statement))
            return await migrations.migrate(database)
        finally:
            await database.dispose()

    return asyncio.run(go())


def test_a_mariadb_database_from_the_first_schema_upgrades(mysql: MySQLServer) -> None:
    """INT money and case-insensitive keys, as the first schema left them, become BIGINT/binary."""
    url = mysql.url(mysql.create_database("upgrade"))
    assert _run(url) == [1, 2, 3, 4]
    applied = _run(
        url,
        # what the first version of migration 1 created on MariaDB (the database's collation)
        "ALTER TABLE products MODIFY sku VARCHAR(64) NOT NULL, MODIFY unit_price_krw INT NOT NULL",
        "ALTER TABLE bills MODIFY total_krw INT NOT NULL",
        "ALTER TABLE idempotency_keys MODIFY idem_key VARCHAR(191) NOT NULL",
        "DELETE FROM schema_migrations WHERE version = 2",
    )
    assert applied == [2]
    with mysql.connect(url.rsplit("/", 1)[1]) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLLATION_NAME"
            " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
            " AND COLUMN_NAME IN ('sku', 'unit_price_krw', 'total_krw', 'idem_key')"
        )
        columns = {(t, c): (kind, coll) for t, c, kind, coll in cur.fetchall()}
    assert columns[("products", "sku")] == ("varchar", "utf8mb4_bin")
    assert columns[("products", "unit_price_krw")][0] == "bigint"
    assert columns[("bills", "total_krw")][0] == "bigint"
    assert columns[("idempotency_keys", "idem_key")] == ("varchar", "utf8mb4_bin")


def test_a_migration_that_stopped_halfway_on_mysql_8_completes(mysql: MySQLServer) -> None:
    """MySQL 8.0 stopped the first migration at its first index, after creating tables; the
    migration now finishes that database instead of failing on what exists."""
    url = mysql.url(mysql.create_database("halfway"))
    assert _run(url) == [1, 2, 3, 4]
    # stores, products and tray_sessions were created; the index on tray_sessions was refused
    tray_sessions_alone = str(CreateTable(tables.tray_sessions).compile(dialect=mysql_dialect()))
    applied = _run(
        url,
        "DROP TABLE payment_attempts, bill_lines, bills, reviews, recognition_items,"
        " recognition_runs, idempotency_keys, tray_sessions",
        tray_sessions_alone,
        "DELETE FROM schema_migrations",
    )
    assert applied == [1, 2, 3, 4]
    with mysql.connect(url.rsplit("/", 1)[1]) as conn, conn.cursor() as cur:
        cur.execute("SHOW INDEX FROM tray_sessions WHERE Key_name = 'ix_tray_sessions_store_id'")
        assert cur.fetchall()
        cur.execute("SHOW TABLES")
        assert len(cur.fetchall()) == len(migrations.ALL_TABLES) + 1  # and schema_migrations


def test_a_sqlite_database_from_the_first_schema_upgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert _run(url) == [1, 2, 3, 4]
    assert _run(url, "DELETE FROM schema_migrations WHERE version = 2") == [2]
    assert _run(url) == []


def test_sqlite_needs_no_retyping() -> None:
    """SQLite compares bytes and stores 64-bit integers already: migration 2 is empty there."""
    assert migrations.MIGRATIONS[1].plan("sqlite") == []


# What the second schema version left: runs without archived frames, no payment attempts.
SECOND_VERSION = (
    "ALTER TABLE recognition_runs DROP COLUMN frames",
    "DROP TABLE payment_attempts",
    "DELETE FROM schema_migrations WHERE version > 2",
)


def test_a_second_version_database_gains_frames_and_payment_attempts(
    mysql: MySQLServer, tmp_path: Path
) -> None:
    for url in (
        mysql.url(mysql.create_database("second")),
        f"sqlite:///{tmp_path / 'second.db'}",
    ):
        assert _run(url) == [1, 2, 3, 4]
        assert _run(url, *SECOND_VERSION) == [3, 4]
        assert _run(url) == []

        async def columns(url: str = url) -> set[str]:
            database = Database(parse_database_url(url))
            try:
                async with database.connection() as conn:
                    return await conn.run_sync(
                        lambda c: (
                            {col["name"] for col in sa.inspect(c).get_columns("recognition_runs")}
                            | set(sa.inspect(c).get_table_names())
                        )
                    )
            finally:
                await database.dispose()

        found = asyncio.run(columns())
        assert "frames" in found and "payment_attempts" in found
