"""Map the DATABASE_URL users write onto what `databases` connects with.

The runbook stores `mysql+pymysql://user:pass@/db?unix_socket=/cloudsql/P:R:I&charset=utf8mb4`
in Secret Manager. pymysql is a sync driver, so Central keeps every part of that URL (user,
password, database, the Cloud SQL unix socket, the charset) and connects through aiomysql instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

EMBEDDED_DEFAULT = "sqlite:///./bakesight.db"

_MYSQL_SCHEMES = {"mysql", "mysql+pymysql", "mysql+aiomysql", "mysql+mysqldb"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite"}
# Query options that `databases`' aiomysql backend reads from the URL itself.
_MYSQL_URL_OPTIONS = {"unix_socket", "min_size", "max_size", "pool_recycle", "ssl"}


@dataclass(frozen=True)
class DatabaseTarget:
    url: str  # what `databases.Database` is given
    options: dict[str, object] = field(default_factory=dict)  # extra driver keyword arguments
    dialect: str = "sqlite"

    def describe(self) -> str:
        """A log-safe description: never the password."""
        parts = urlsplit(self.url)
        where = dict(parse_qsl(parts.query)).get("unix_socket") or parts.hostname or parts.path
        return f"{self.dialect} at {where}"


def parse_database_url(raw: str) -> DatabaseTarget:
    """Validate DATABASE_URL and translate it; ValueError says what is wrong without echoing it."""
    raw = raw.strip()
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme in _SQLITE_SCHEMES:
        if not parts.path or parts.path == "/":
            raise ValueError("a sqlite URL needs a file path, e.g. sqlite:///./bakesight.db")
        # A busy timeout lets concurrent writers wait instead of failing with 'database is locked'.
        return DatabaseTarget(url="sqlite://" + parts.path, options={"timeout": 30})
    if scheme not in _MYSQL_SCHEMES:
        raise ValueError(
            f"unsupported scheme {parts.scheme!r}: use mysql+pymysql://… or sqlite:///…"
        )
    database = parts.path.lstrip("/")
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
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise ValueError("the MySQL URL has an invalid port") from None
    # Cloud Run serves many requests per instance; keep a bounded pool that outlives idle drops.
    # min_size 0: an instance starts (and /ready reports 503) while Cloud SQL is briefly away.
    query.setdefault("min_size", "0")
    query.setdefault("max_size", "10")
    query.setdefault("pool_recycle", "1800")
    url = urlunsplit(("mysql+aiomysql", parts.netloc, "/" + database, urlencode(query), ""))
    return DatabaseTarget(url=url, options={"charset": charset}, dialect="mysql")
