"""Map the DATABASE_URL users write onto SQLAlchemy's asyncio engine and its pool.

The runbook stores `mysql+pymysql://user:pass@/db?unix_socket=/cloudsql/P:R:I&charset=utf8mb4`
in Secret Manager. pymysql is a sync driver, so Central keeps every part of that URL (user,
password, database, the Cloud SQL unix socket, the charset) and connects through aiomysql instead.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sqlalchemy.engine import URL

EMBEDDED_DEFAULT = "sqlite:///./bakesight.db"

_MYSQL_SCHEMES = {"mysql", "mysql+pymysql", "mysql+aiomysql", "mysql+mysqldb"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite"}
# min_size is accepted for URLs written for the previous driver layer; SQLAlchemy's pool opens
# connections on demand, so an instance starts (and /ready says 503) while Cloud SQL is away.
_MYSQL_URL_OPTIONS = {"unix_socket", "min_size", "max_size", "pool_recycle", "pool_timeout", "ssl"}

# Cloud Run serves up to 80 requests per instance by default; 10 connections (+5 in bursts) keep
# Cloud SQL's connection limit safe across instances, and requests beyond them queue briefly.
POOL_SIZE = 10
POOL_OVERFLOW = 5
# A request waits at most this long for a free connection, then answers 503 + Retry-After.
POOL_TIMEOUT_S = 5.0
# Cloud SQL and proxies drop idle connections; renew them before that happens.
POOL_RECYCLE_S = 1800
# Connecting to a database that is restarting fails fast or not at all; do not hang on it.
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class DatabaseTarget:
    url: URL  # what SQLAlchemy's create_async_engine is given
    engine_options: dict[str, Any] = field(default_factory=dict)
    dialect: str = "sqlite"
    where: str = ""  # host, socket or file: for logs, never the password

    def describe(self) -> str:
        """A log-safe description: never the password."""
        return f"{self.dialect} at {self.where}"


def parse_database_url(raw: str) -> DatabaseTarget:
    """Validate DATABASE_URL and translate it; ValueError says what is wrong without echoing it."""
    raw = raw.strip()
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme in _SQLITE_SCHEMES:
        if not parts.path or parts.path == "/":
            raise ValueError("a sqlite URL needs a file path, e.g. sqlite:///./bakesight.db")
        # sqlite:///./x.db → path "/./x.db" (relative); sqlite:////abs/x.db → "//abs/x.db".
        path = parts.path[1:]
        return DatabaseTarget(
            url=URL.create("sqlite+aiosqlite", database=path),
            # A busy timeout lets concurrent writers wait instead of failing 'database is locked'.
            engine_options={"connect_args": {"timeout": 30}, "pool_timeout": POOL_TIMEOUT_S},
            dialect="sqlite",
            where=path,
        )
    if scheme not in _MYSQL_SCHEMES:
        raise ValueError(
            f"unsupported scheme {parts.scheme!r}: use mysql+pymysql://… or sqlite:///…"
        )
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError("the MySQL URL names no database (…@host/DATABASE)")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    charset = query.pop("charset", "utf8mb4")
    unknown = sorted(set(query) - _MYSQL_URL_OPTIONS)
    if unknown:
        raise ValueError(f"unsupported MySQL URL option(s): {', '.join(unknown)}")
    if not parts.hostname and "unix_socket" not in query:
        raise ValueError("the MySQL URL needs a host (…@host:3306/db) or ?unix_socket=/cloudsql/…")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the MySQL URL has an invalid port") from None
    connect_args: dict[str, Any] = {
        "charset": charset,
        "connect_timeout": CONNECT_TIMEOUT_S,
    }
    if "unix_socket" in query:
        connect_args["unix_socket"] = query["unix_socket"]
    if query.get("ssl", "").lower() in {"1", "true", "required"}:
        connect_args["ssl"] = ssl.create_default_context()
    options: dict[str, Any] = {
        "connect_args": connect_args,
        "pool_size": _number(query, "max_size", POOL_SIZE),
        "max_overflow": POOL_OVERFLOW,
        "pool_timeout": float(_number(query, "pool_timeout", POOL_TIMEOUT_S)),
        "pool_recycle": _number(query, "pool_recycle", POOL_RECYCLE_S),
        # One cheap round trip before lending a connection: a restart's dead sockets are
        # replaced in the pool instead of failing the request that draws them.
        "pool_pre_ping": True,
        # Each statement sees what is committed; rows that must not change are locked explicitly
        # (SELECT … FOR UPDATE), so there are no snapshot surprises and fewer gap-lock deadlocks.
        "isolation_level": "READ COMMITTED",
    }
    url = URL.create(
        "mysql+aiomysql",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        host=parts.hostname or None,
        port=port,
        database=database,
    )
    where = query.get("unix_socket") or f"{parts.hostname}:{port or 3306}"
    return DatabaseTarget(url=url, engine_options=options, dialect="mysql", where=where)


def _number(query: dict[str, str], name: str, default: float) -> Any:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"the MySQL URL option {name} must be a number") from None
    if value <= 0:
        raise ValueError(f"the MySQL URL option {name} must be greater than 0")
    return int(value) if value.is_integer() else value
