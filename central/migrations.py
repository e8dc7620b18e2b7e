"""Versioned schema migrations, safe when several Central instances start at once.

Each migration is a list of DDL statements applied in order and recorded in `schema_migrations`.
Instances serialize on a database lock (MySQL's GET_LOCK; SQLite's write lock), so the second
instance to arrive waits, sees the versions the first applied, and does nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from databases import Database
from databases.core import Connection
from sqlalchemy.schema import CreateIndex, CreateTable, DDLElement

from central import tables

LOCK_NAME = "bakesight_schema_migrations"
LOCK_TIMEOUT_S = 120


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: Callable[[], list[DDLElement]]


def _create(*tbls: sa.Table) -> Callable[[], list[DDLElement]]:
    def statements() -> list[DDLElement]:
        out: list[DDLElement] = []
        for table in tbls:
            out.append(CreateTable(table, if_not_exists=True))
            out.extend(CreateIndex(index, if_not_exists=True) for index in table.indexes)
        return out

    return statements


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "stores, products, tray sessions, recognition runs, reviews, bills, idempotency keys",
        _create(
            tables.stores,
            tables.products,
            tables.tray_sessions,
            tables.recognition_runs,
            tables.recognition_items,
            tables.reviews,
            tables.bills,
            tables.bill_lines,
            tables.idempotency_keys,
        ),
    ),
]
LATEST_VERSION = MIGRATIONS[-1].version


class MigrationLockTimeout(RuntimeError):
    pass


async def current_version(database: Database) -> int:
    """The applied schema version, 0 for an empty database."""
    try:
        value = await database.fetch_val(sa.select(sa.func.max(tables.schema_migrations.c.version)))
    except Exception as exc:  # the table does not exist yet
        if _is_missing_table(exc):
            return 0
        raise
    return int(value or 0)


async def migrate(database: Database) -> list[int]:
    """Apply the pending migrations; return the versions this call applied."""
    async with database.connection() as connection:
        dialect = database.url.dialect
        await _lock(connection, dialect)
        ok = False
        try:
            await connection.execute(CreateTable(tables.schema_migrations, if_not_exists=True))
            done = {
                row[0]
                for row in await connection.fetch_all(sa.select(tables.schema_migrations.c.version))
            }
            applied = []
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                for statement in migration.statements():
                    await connection.execute(statement)
                await connection.execute(
                    tables.schema_migrations.insert().values(
                        version=migration.version,
                        name=migration.name,
                        applied_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    )
                )
                applied.append(migration.version)
            ok = True
            return applied
        finally:
            await _unlock(connection, dialect, commit=ok)


async def _lock(connection: Connection, dialect: str) -> None:
    if dialect == "mysql":
        got = await connection.fetch_val(
            sa.text("SELECT GET_LOCK(:name, :timeout)").bindparams(
                name=LOCK_NAME, timeout=LOCK_TIMEOUT_S
            )
        )
        if got != 1:
            raise MigrationLockTimeout(
                f"another instance held the migration lock for more than {LOCK_TIMEOUT_S} s"
            )
    else:
        # SQLite: WAL lets readers go on while one writer migrates; BEGIN IMMEDIATE takes the write
        # lock up front, so a second migrator waits (busy timeout) instead of racing.
        await connection.execute(sa.text("PRAGMA journal_mode=WAL"))
        await connection.execute(sa.text("BEGIN IMMEDIATE"))


async def _unlock(connection: Connection, dialect: str, commit: bool) -> None:
    if dialect == "mysql":
        await connection.execute(sa.text("SELECT RELEASE_LOCK(:name)").bindparams(name=LOCK_NAME))
    else:
        await connection.execute(sa.text("COMMIT" if commit else "ROLLBACK"))


def _is_missing_table(exc: Exception) -> bool:
    text = str(exc).lower()
    return "no such table" in text or "doesn't exist" in text or "1146" in text
