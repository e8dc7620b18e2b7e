"""The MySQL statement cache re-binds each call's own values — never a previous call's."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from central.db import make_database
from central.dburl import parse_database_url
from central.statement_cache import CachingMySQLBackend
from tests.support.mysql import MySQLServer


def test_cached_statements_bind_fresh_values(mysql: MySQLServer) -> None:
    async def run() -> None:
        database = make_database(parse_database_url(mysql.url(mysql.create_database("cache"))))
        await database.connect()
        try:
            assert isinstance(database._backend, CachingMySQLBackend)
            await database.execute(sa.text("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))"))
            t = sa.table("t", sa.column("id"), sa.column("name"))
            for i in range(5):  # the same statement shape five times, five different values
                await database.execute(t.insert().values(id=i, name=f"n{i}"))
            names = [
                await database.fetch_val(sa.select(t.c.name).where(t.c.id == i)) for i in range(5)
            ]
            assert names == [f"n{i}" for i in range(5)]
            # IN lists change the SQL text with their length: they must never reuse a cached text.
            for ids in ([1], [1, 2, 3], [0, 4]):
                rows = await database.fetch_all(
                    sa.select(t.c.id).where(t.c.id.in_(ids)).order_by(t.c.id)
                )
                assert [r.id for r in rows] == sorted(ids)
            cached = database._backend._statements
            assert cached, "the repeated shapes were cached"
        finally:
            await database.disconnect()

    asyncio.run(run())
