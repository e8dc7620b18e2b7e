"""A database that dies while Central connects is 'the database is away' (503), never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import exc, text

from central.db import UNAVAILABLE_ERRORS, Database
from central.dburl import parse_database_url


def test_a_socket_closed_mid_handshake_is_an_operational_error(monkeypatch) -> None:
    import aiomysql

    async def dies_mid_handshake(*args: Any, **kwargs: Any) -> Any:
        # What aiomysql raises when the server closes the socket before keep-alive is set.
        raise RuntimeError("Transport does not expose socket instance")

    monkeypatch.setattr(aiomysql, "connect", dies_mid_handshake)
    database = Database(parse_database_url("mysql://user:pw@127.0.0.1:1/db"))

    async def query() -> None:
        try:
            async with database.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await database.dispose()

    with pytest.raises(exc.OperationalError, match="Lost connection") as caught:
        asyncio.run(query())
    assert isinstance(caught.value, UNAVAILABLE_ERRORS)
