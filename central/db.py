"""Database plumbing shared by the route modules."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from databases import Database

from central.dburl import DatabaseTarget
from central.statement_cache import CentralDatabase


def make_database(target: DatabaseTarget) -> Database:
    return CentralDatabase(target.url, **target.options)


def utcnow() -> dt.datetime:
    """Naive UTC: both MySQL DATETIME and SQLite store it without a zone."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def is_duplicate(exc: Exception) -> bool:
    """A unique-constraint violation, on MySQL (1062) or SQLite."""
    text = str(exc)
    return "UNIQUE constraint failed" in text or "Duplicate entry" in text or "(1062" in text


def loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
