"""The schema, as SQLAlchemy Core tables. Change it only through a new migration."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

# MySQL's TEXT stops at 64 KiB; stored idempotent answers and candidate lists may be larger.
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")
# Sub-second timestamps so a run's history orders the way it happened.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
# Won (KRW): BIGINT, so no total a bounded tray can reach overflows (INT stops at 2.1 billion).
Money = sa.BigInteger


def Identifier(length: int) -> sa.types.TypeEngine[str]:
    """A string compared byte for byte: SKUs, codes, keys and tokens.

    MySQL's default collations fold case and accents (`Café-Key` = `CAFE-KEY`); utf8mb4_bin makes
    MySQL compare these as SQLite's default BINARY collation does, so both databases agree.
    """
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql"
    )


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    ]


stores = sa.Table(
    "stores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", Identifier(32), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    *_timestamps(),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("sku", Identifier(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("unit_price_krw", Money, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("store_id", "sku", name="uq_products_store_sku"),
)

tray_sessions = sa.Table(
    "tray_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", Identifier(36), nullable=False, unique=True),
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.id"), nullable=False, index=True),
    sa.Column("counter_id", Identifier(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # Who holds the session while an inference runs (see sessions.claim_for_inference).
    sa.Column("claim_token", Identifier(36), nullable=True),
    sa.Column("claimed_at", Timestamp, nullable=True),
    *_timestamps(),
)

recognition_runs = sa.Table(
    "recognition_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "session_id", sa.Integer, sa.ForeignKey("tray_sessions.id"), nullable=False, index=True
    ),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(255), nullable=False),
    sa.Column("ai_status", sa.String(32), nullable=False),
    sa.Column("ai_error", sa.String(500), nullable=True),
    sa.Column("model_version", sa.String(128), nullable=True),
    sa.Column("device", sa.String(32), nullable=True),
    sa.Column("ai_latency_ms", sa.Integer, nullable=True),
    sa.Column("frame_count", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # JSON list of the frames' names in the tray archive; NULL when they could not be archived.
    sa.Column("frames", LongText, nullable=True),
)

recognition_items = sa.Table(
    "recognition_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.Integer, sa.ForeignKey("recognition_runs.id"), nullable=False, index=True
    ),
    sa.Column("sku", Identifier(64), nullable=True),  # NULL: the AI matched no product
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("candidates", LongText, nullable=False),  # JSON list of {sku, score}
    sa.Column("boxes", LongText, nullable=False),  # JSON list of {frame, box}
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "session_id", sa.Integer, sa.ForeignKey("tray_sessions.id"), nullable=False, index=True
    ),
    sa.Column(
        "run_id", sa.Integer, sa.ForeignKey("recognition_runs.id"), nullable=False, unique=True
    ),
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("final_items", LongText, nullable=True),  # JSON list of {sku, count}
    sa.Column("resolved_by", sa.String(128), nullable=True),
    sa.Column("resolution_token", Identifier(36), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("resolved_at", Timestamp, nullable=True),
    sa.Index("ix_reviews_store_status", "store_id", "status"),
)

bills = sa.Table(
    "bills",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Unique: one bill per session, also when two checkouts race.
    sa.Column(
        "session_id", sa.Integer, sa.ForeignKey("tray_sessions.id"), nullable=False, unique=True
    ),
    sa.Column("total_krw", Money, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # AUTO or REVIEW
    sa.Column("payment_status", sa.String(16), nullable=False),
    sa.Column("payment_reference", Identifier(128), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

bill_lines = sa.Table(
    "bill_lines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("bill_id", sa.Integer, sa.ForeignKey("bills.id"), nullable=False, index=True),
    sa.Column("sku", Identifier(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("unit_price_krw", Money, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("line_total_krw", Money, nullable=False),
)

# Every change to a bill's payment after checkout: a retried payment or a void, in order.
payment_attempts = sa.Table(
    "payment_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("bill_id", sa.Integer, sa.ForeignKey("bills.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # RETRY or VOID
    sa.Column("from_status", sa.String(16), nullable=False),
    sa.Column("payment_status", sa.String(16), nullable=False),
    sa.Column("payment_reference", Identifier(128), nullable=True),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("actor", sa.String(128), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", Identifier(191), nullable=False),  # method and path the key was used on
    sa.Column("idem_key", Identifier(191), nullable=False),
    sa.Column("request_hash", Identifier(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # IN_PROGRESS or DONE
    sa.Column("owner_token", Identifier(36), nullable=False),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("response_body", LongText, nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("scope", "idem_key", name="uq_idempotency_scope_key"),
)

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", Timestamp, nullable=False),
)
