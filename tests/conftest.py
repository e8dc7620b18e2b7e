"""Shared fixtures: a real MySQL server (or a clear failure) and the AI stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.ai_standin import AiStandIn
from testkit.mysql import MySQLServer, NoMySQLServer, mysql_server


@pytest.fixture(scope="session")
def mysql() -> Iterator[MySQLServer]:
    try:
        with mysql_server() as server:
            yield server
    except NoMySQLServer as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def ai_standin() -> Iterator[AiStandIn]:
    standin = AiStandIn(admin_key="ai-admin-key-for-tests").start()
    yield standin
    standin.stop()


@pytest.fixture
def ai(ai_standin: AiStandIn) -> Iterator[AiStandIn]:
    ai_standin.reset()
    yield ai_standin
    ai_standin.reset()
