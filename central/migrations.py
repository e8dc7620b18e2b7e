"""Versioned schema migrations, valid on MySQL 8.0 (Cloud SQL), MariaDB and SQLite.

Each migration is a plan of DDL statements for a dialect, applied in order and recorded in
`schema_migrations`. Instances serialize on a database lock (MySQL's GET_LOCK; SQLite's write
lock, BEGIN IMMEDIATE), so the second instance to arrive waits, sees the versions the first
applied, and does nothing.

Only syntax MySQL 8.0 accepts: `CREATE TABLE IF NOT EXISTS` yes, but an index-level `IF NOT
EXISTS` is MariaDB-only, so an index is created only when the inspector does not list it.
That also lets a migration that stopped halfway (MySQL commits each DDL statement on its own) run
again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement

from central import tables
from central.db import Database

LOCK_NAME = "bakesight_schema_migrations"
LOCK_TIMEOUT_S = 120

Plan = Callable[[str], list[ExecutableDDLElement]]  # dialect name → its statements


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    plan: Plan


def _create(*tbls: sa.Table) -> Plan:
    def plan(dialect: str) -> list[ExecutableDDLElement]:
        out: list[ExecutableDDLElement] = []
        for table in tbls:
            out.append(CreateTable(table, if_not_exists=True))
            out.extend(CreateIndex(index) for index in sorted(table.indexes, key=_name))
        return out

    return plan


def _retype_for_mysql(*tbls: sa.Table) -> Plan:
    """MODIFY the identifier and money columns to their current types (MySQL only).

    Databases created before utf8mb4_bin and BIGINT have INT money and case-insensitive keys;
    SQLite already compares bytes and stores 64-bit integers, so it needs nothing.
    """

    def plan(dialect: str) -> list[ExecutableDDLElement]:
        if dialect != "mysql":
            return []
        out: list[ExecutableDDLElement] = []
        for table in tbls:
            clauses = [
                f"MODIFY {column.name} {column.type.compile(mysql.dialect())}"
                f"{'' if column.nullable else ' NOT NULL'}"
                for column in table.columns
                if _is_retyped(column)
            ]
            if clauses:
                out.append(sa.DDL(f"ALTER TABLE {table.name} {', '.join(clauses)}"))
        return out

    return plan


class AddColumn(sa.schema.DDL):
    """ALTER TABLE … ADD COLUMN, skipped where the column exists (MySQL 8.0 has no IF NOT EXISTS
    for columns; a migration that stopped halfway runs again)."""

    def __init__(self, column: sa.Column, dialect: str) -> None:
        table = column.table
        kind = column.type.compile(mysql.dialect() if dialect == "mysql" else _sqlite_dialect())
        null = "" if column.nullable else " NOT NULL"
        super().__init__(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{null}")
        self.table_name, self.column_name = table.name, column.name


def _add_columns(*columns: sa.Column) -> Plan:
    def plan(dialect: str) -> list[ExecutableDDLElement]:
        return [AddColumn(column, dialect) for column in columns]

    return plan


def _sqlite_dialect() -> sa.Dialect:
    from sqlalchemy.dialects import sqlite

    return sqlite.dialect()


def _is_retyped(column: sa.Column) -> bool:
    if column.primary_key:
        return False
    if isinstance(column.type, sa.BigInteger):
        return True
    variant = column.type._variant_mapping.get("mysql")
    return isinstance(variant, mysql.VARCHAR) and variant.collation == "utf8mb4_bin"


ALL_TABLES = (
    tables.stores,
    tables.products,
    tables.tray_sessions,
    tables.recognition_runs,
    tables.recognition_items,
    tables.reviews,
    tables.bills,
    tables.bill_lines,
    tables.idempotency_keys,
    tables.payment_attempts,
)

MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "stores, products, tray sessions, recognition runs, reviews, bills, idempotency keys",
        _create(*ALL_TABLES),
    ),
    Migration(
        2,
        "binary collation for identifiers, BIGINT for money",
        _retype_for_mysql(*ALL_TABLES),
    ),
    Migration(
        3,
        "recognition runs name their archived frames",
        _add_columns(tables.recognition_runs.c.frames),
    ),
    Migration(4, "payment attempts: retried payments and voids", _create(tables.payment_attempts)),
]
LATEST_VERSION = MIGRATIONS[-1].version


class MigrationLockTimeout(RuntimeError):
    pass


async def current_version(database: Database) -> int:
    """The applied schema version, 0 for an empty database."""
    async with database.connection() as conn:
        return await _version(conn)


async def _version(conn: AsyncConnection) -> int:
    if not await conn.run_sync(lambda c: sa.inspect(c).has_table("schema_migrations")):
        return 0
    value = (
        await conn.execute(sa.select(sa.func.max(tables.schema_migrations.c.version)))
    ).scalar()
    return int(value or 0)


async def migrate(database: Database) -> list[int]:
    """Apply the pending migrations; return the versions this call applied."""
    if database.dialect == "mysql":
        # DDL commits implicitly on MySQL: run unwrapped, serialized by a session-level lock.
        async with database.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await _lock(conn)
            try:
                return await _apply(conn, "mysql")
            finally:
                await conn.execute(sa.text("SELECT RELEASE_LOCK(:name)").bindparams(name=LOCK_NAME))
    # SQLite: DDL is transactional, so the whole upgrade commits or none of it; BEGIN IMMEDIATE
    # takes the write lock up front, so a second migrator waits (busy timeout) instead of racing.
    async with database.transaction() as conn:
        return await _apply(conn, "sqlite")


async def _apply(conn: AsyncConnection, dialect: str) -> list[int]:
    await conn.execute(CreateTable(tables.schema_migrations, if_not_exists=True))
    done = {row[0] for row in await conn.execute(sa.select(tables.schema_migrations.c.version))}
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.plan(dialect):
            if isinstance(statement, CreateIndex) and await _index_exists(conn, statement):
                continue  # left by a run that stopped halfway
            if isinstance(statement, AddColumn) and await _column_exists(conn, statement):
                continue  # left by a run that stopped halfway, or created by migration 1
            await conn.execute(statement)
        await conn.execute(
            tables.schema_migrations.insert().values(
                version=migration.version,
                name=migration.name,
                applied_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            )
        )
        applied.append(migration.version)
    return applied


async def _index_exists(conn: AsyncConnection, statement: CreateIndex) -> bool:
    index = statement.element
    assert isinstance(index, sa.Index) and index.table is not None
    table_name = index.table.name
    names = await conn.run_sync(
        lambda c: {i["name"] for i in sa.inspect(c).get_indexes(table_name)}
    )
    return index.name in names


async def _lock(conn: AsyncConnection) -> None:
    got = (
        await conn.execute(
            sa.text("SELECT GET_LOCK(:name, :timeout)").bindparams(
                name=LOCK_NAME, timeout=LOCK_TIMEOUT_S
            )
        )
    ).scalar()
    if got != 1:
        raise MigrationLockTimeout(
            f"another instance held the migration lock for more than {LOCK_TIMEOUT_S} s"
        )


async def _column_exists(conn: AsyncConnection, statement: AddColumn) -> bool:
    table_name = statement.table_name
    names = await conn.run_sync(
        lambda c: {column["name"] for column in sa.inspect(c).get_columns(table_name)}
    )
    return statement.column_name in names


def _name(index: sa.Index) -> str:
    return str(index.name)
