"""How tray sessions, runs, reviews and bills look in Central's JSON answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from central import apidoc
from central.db import iso, loads
from central.states import AIStatus, Decision, ReviewStatus, SessionStatus
from central.tables import (
    bill_lines,
    bills,
    payment_attempts,
    recognition_items,
    recognition_runs,
    reviews,
)
from servicekit import openapi as oa


def run_json(run: Mapping[Any, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": run["id"],
        "decision": run["decision"],
        "reason": run["reason"],
        "ai_status": run["ai_status"],
        "ai_error": run["ai_error"],
        "model_version": run["model_version"],
        "device": run["device"],
        "ai_latency_ms": run["ai_latency_ms"],
        "frame_count": run["frame_count"],
        # Where staff see the frames (authenticated); empty when they were not archived.
        "frames": [
            {
                "image": f"/api/v1/runs/{run['id']}/frames/{index}",
                "annotated": f"/api/v1/runs/{run['id']}/frames/{index}/annotated",
            }
            for index in range(len(loads(run.get("frames")) or []))
        ],
        "created_at": iso(run["created_at"]),
        "items": items,
    }


def item_json(item: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "sku": item["sku"],
        "count": item["count"],
        "confidence": item["confidence"],
        "candidates": loads(item["candidates"]),
        "boxes": loads(item["boxes"]),
    }


def review_json(row: Mapping[Any, Any], session_uuid: str | None = None) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "session_id": row["session_id"],
        "run_id": row["run_id"],
        "store_id": row["store_id"],
        "reason": row["reason"],
        "status": row["status"],
        "final_items": loads(row["final_items"]),
        "resolved_by": row["resolved_by"],
        "created_at": iso(row["created_at"]),
        "resolved_at": iso(row["resolved_at"]),
    }
    if session_uuid is not None:
        out["session"] = session_uuid
    return out


def session_head(session: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "uuid": session["uuid"],
        "store_id": session["store_id"],
        "counter_id": session["counter_id"],
        "status": session["status"],
        "payable": session["status"] == SessionStatus.PAYABLE,
        "created_at": iso(session["created_at"]),
        "updated_at": iso(session["updated_at"]),
    }


def new_session_json(values: Mapping[Any, Any]) -> dict[str, Any]:
    """A new session as GET shows it, built from its row instead of read back."""
    return {**session_head(values), "runs": [], "reviews": [], "bill": None}


async def session_json(conn: AsyncConnection, session: Any) -> dict[str, Any]:
    """A session with its runs (and their items), reviews and bill, read on `conn`."""
    runs = (
        await conn.execute(
            recognition_runs.select()
            .where(recognition_runs.c.session_id == session.id)
            .order_by(recognition_runs.c.id)
        )
    ).all()
    items_by_run: dict[int, list[dict[str, Any]]] = {run.id: [] for run in runs}
    if runs:
        for item in await conn.execute(
            recognition_items.select()
            .where(recognition_items.c.run_id.in_(list(items_by_run)))
            .order_by(recognition_items.c.id)
        ):
            items_by_run[item.run_id].append(item_json(item._mapping))
    review_rows = await conn.execute(
        reviews.select().where(reviews.c.session_id == session.id).order_by(reviews.c.id)
    )
    bill = (await conn.execute(bills.select().where(bills.c.session_id == session.id))).first()
    return {
        **session_head(session._mapping),
        "runs": [run_json(run._mapping, items_by_run[run.id]) for run in runs],
        "reviews": [review_json(row._mapping) for row in review_rows],
        "bill": await bill_json(conn, bill) if bill is not None else None,
    }


async def bill_json(conn: AsyncConnection, bill: Any) -> dict[str, Any]:
    lines = (
        await conn.execute(
            bill_lines.select().where(bill_lines.c.bill_id == bill.id).order_by(bill_lines.c.id)
        )
    ).all()
    attempts = (
        await conn.execute(
            payment_attempts.select()
            .where(payment_attempts.c.bill_id == bill.id)
            .order_by(payment_attempts.c.id)
        )
    ).all()
    return bill_body(bill, lines, attempts)


def bill_body(bill: Any, lines: Sequence[Any], attempts: Sequence[Any]) -> dict[str, Any]:
    """A bill with its lines and its payment history (both oldest first), from their rows."""
    return {
        "id": bill.id,
        "total_krw": bill.total_krw,
        "currency": "KRW",
        "source": bill.source,
        "payment_status": bill.payment_status,
        "payment_reference": bill.payment_reference,
        "created_at": iso(bill.created_at),
        "lines": [
            {
                "sku": line.sku,
                "name": line.name,
                "unit_price_krw": line.unit_price_krw,
                "count": line._mapping["count"],
                "line_total_krw": line.line_total_krw,
            }
            for line in lines
        ],
        # What happened to the payment after checkout (retries, a void), oldest first.
        "history": [
            {
                "kind": attempt.kind,
                "from_status": attempt.from_status,
                "payment_status": attempt.payment_status,
                "payment_reference": attempt.payment_reference,
                "reason": attempt.reason,
                "actor": attempt.actor,
                "at": iso(attempt.created_at),
            }
            for attempt in attempts
        ],
    }


# -- the same shapes as OpenAPI schemas ---------------------------------------------------------

_S, _I, _N = oa.string(), oa.integer(), oa.number()
_OPT_S, _OPT_I = oa.string(nullable=True), oa.integer(nullable=True)
_TIME, _OPT_TIME = oa.string(format="date-time"), oa.string(format="date-time", nullable=True)
_ITEM_LINES = oa.array(oa.obj({"sku": _S, "count": _I}, required=["sku", "count"]), nullable=True)

_HEAD = {
    "uuid": _S,
    "store_id": _I,
    "counter_id": _S,
    "status": oa.string(enum=list(SessionStatus)),
    "payable": oa.boolean(),
    "created_at": _TIME,
    "updated_at": _TIME,
}
apidoc.schemas.update(
    Item=oa.obj(
        {
            "sku": oa.string(nullable=True, description="null: the AI matched no product"),
            "count": _I,
            "confidence": _N,
            "candidates": oa.array(oa.obj({"sku": _S, "score": _N})),
            "boxes": oa.array(oa.obj({"frame": _I, "box": oa.array(_N)})),
        },
        required=["sku", "count", "confidence", "candidates", "boxes"],
    ),
    Run=oa.obj(
        {
            "id": _I,
            "decision": oa.string(enum=list(Decision)),
            "reason": _S,
            "ai_status": oa.string(enum=list(AIStatus)),
            "ai_error": _OPT_S,
            "model_version": _OPT_S,
            "device": _OPT_S,
            "ai_latency_ms": _OPT_I,
            "frame_count": _I,
            "frames": oa.array(
                oa.obj({"image": _S, "annotated": _S}, required=["image", "annotated"])
            ),
            "created_at": _TIME,
            "items": oa.array(oa.ref("Item")),
        },
        required=["id", "decision", "reason", "ai_status", "frame_count", "frames", "items"],
    ),
    Review=oa.obj(
        {
            "id": _I,
            "session_id": _I,
            "run_id": _OPT_I,
            "store_id": _I,
            "reason": _S,
            "status": oa.string(enum=list(ReviewStatus)),
            "final_items": _ITEM_LINES,
            "resolved_by": _OPT_S,
            "created_at": _TIME,
            "resolved_at": _OPT_TIME,
            "session": oa.string(description="the tray session's uuid"),
        },
        required=["id", "session_id", "store_id", "reason", "status", "created_at"],
    ),
    Bill=oa.obj(
        {
            "id": _I,
            "total_krw": _I,
            "currency": oa.string(enum=["KRW"]),
            "source": _S,
            "payment_status": _S,
            "payment_reference": _OPT_S,
            "created_at": _TIME,
            "lines": oa.array(
                oa.obj(
                    {
                        "sku": _S,
                        "name": _S,
                        "unit_price_krw": _I,
                        "count": _I,
                        "line_total_krw": _I,
                    },
                    required=["sku", "name", "unit_price_krw", "count", "line_total_krw"],
                )
            ),
            "history": oa.array(
                oa.obj(
                    {
                        "kind": _S,
                        "from_status": _S,
                        "payment_status": _S,
                        "payment_reference": _OPT_S,
                        "reason": _OPT_S,
                        "actor": _OPT_S,
                        "at": _TIME,
                    },
                    required=["kind", "from_status", "payment_status", "at"],
                )
            ),
        },
        required=["id", "total_krw", "currency", "source", "payment_status", "lines", "history"],
    ),
    Session=oa.obj(
        {
            **_HEAD,
            "runs": oa.array(oa.ref("Run")),
            "reviews": oa.array(oa.ref("Review")),
            "bill": oa.nullable(oa.ref("Bill")),
        },
        required=[*_HEAD, "runs", "reviews", "bill"],
    ),
    Scan=oa.obj(
        {**_HEAD, "run": oa.ref("Run"), "review": oa.nullable(oa.ref("Review"))},
        required=[*_HEAD, "run", "review"],
        description="the session after a scan: its new run, and the review it opened (or null)",
    ),
)
