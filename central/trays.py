"""Tray sessions: open one, let the AI look at the tray, and bill it.

A session is payable only from an AUTO run the AI answered cleanly, or from a staff review that
was resolved — never otherwise. Status: OPEN → INFERRING → PAYABLE | IN_REVIEW → CHECKED_OUT.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from central import validation as v
from central.ai_client import AIError, AIHTTPError, AIInvalidAnswer, AITimeout
from central.db import dumps, is_duplicate, iso, loads, utcnow
from central.errors import ApiError, conflict, not_found
from central.frames import check_frames
from central.idempotency import idempotent
from central.references import ai_counter_id
from central.stores import get_store_row
from central.tables import (
    bill_lines,
    bills,
    products,
    recognition_items,
    recognition_runs,
    reviews,
    tray_sessions,
)

log = logging.getLogger("central.trays")

INFERABLE = ("OPEN", "IN_REVIEW", "PAYABLE")
PAYMENT_STATUSES = {"PAID", "PENDING", "FAILED"}
COUNTER_RE = v.CODE_RE


# ---- reading -----------------------------------------------------------------------------


async def session_row(database: Database, session_uuid: str) -> Any:
    row = await database.fetch_one(
        tray_sessions.select().where(tray_sessions.c.uuid == session_uuid)
    )
    if row is None:
        raise not_found("tray session", session=session_uuid)
    return row


def run_json(run: Mapping[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
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
        "created_at": iso(run["created_at"]),
        "items": items,
    }


def item_json(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sku": item["sku"],
        "count": item["count"],
        "confidence": item["confidence"],
        "candidates": loads(item["candidates"]),
        "boxes": loads(item["boxes"]),
    }


def review_json(row: Mapping[str, Any], session_uuid: str | None = None) -> dict[str, Any]:
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


def session_head(session: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "uuid": session["uuid"],
        "store_id": session["store_id"],
        "counter_id": session["counter_id"],
        "status": session["status"],
        "payable": session["status"] == "PAYABLE",
        "created_at": iso(session["created_at"]),
        "updated_at": iso(session["updated_at"]),
    }


async def session_json(database: Database, session: Any) -> dict[str, Any]:
    runs = await database.fetch_all(
        recognition_runs.select()
        .where(recognition_runs.c.session_id == session.id)
        .order_by(recognition_runs.c.id)
    )
    items_by_run: dict[int, list[dict[str, Any]]] = {run.id: [] for run in runs}
    if runs:
        for item in await database.fetch_all(
            recognition_items.select()
            .where(recognition_items.c.run_id.in_(list(items_by_run)))
            .order_by(recognition_items.c.id)
        ):
            items_by_run[item.run_id].append(item_json(item._mapping))
    review_rows = await database.fetch_all(
        reviews.select().where(reviews.c.session_id == session.id).order_by(reviews.c.id)
    )
    bill = await database.fetch_one(bills.select().where(bills.c.session_id == session.id))
    return {
        **session_head(session._mapping),
        "runs": [run_json(run._mapping, items_by_run[run.id]) for run in runs],
        "reviews": [review_json(row._mapping) for row in review_rows],
        "bill": await bill_json(database, bill) if bill is not None else None,
    }


async def bill_json(database: Database, bill: Any) -> dict[str, Any]:
    lines = await database.fetch_all(
        bill_lines.select().where(bill_lines.c.bill_id == bill.id).order_by(bill_lines.c.id)
    )
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
    }


# ---- endpoints ---------------------------------------------------------------------------


def parse_new_session(data: dict[str, Any]) -> tuple[int, str]:
    """The store and counter a new session is opened for."""
    v.only(data, {"store_id", "counter_id"})
    store_id = v.integer(data, "store_id", minimum=1, maximum=2**31 - 1)
    return store_id, v.string(data, "counter_id", max_len=32, pattern=COUNTER_RE)


def check_store_open(store: Any) -> None:
    if not store.active:
        raise conflict("store_inactive", f"store {store.id} is not active")


def new_session(store_id: int, counter_id: str) -> dict[str, Any]:
    """The row of a freshly opened session."""
    now = utcnow()
    return {
        "uuid": str(uuid.uuid4()),
        "store_id": store_id,
        "counter_id": counter_id,
        "status": "OPEN",
        "created_at": now,
        "updated_at": now,
    }


def new_session_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """A new session as GET shows it, built from its row instead of read back."""
    return {**session_head(values), "runs": [], "reviews": [], "bill": None}


async def create_session(request: Request) -> JSONResponse:
    """Open a tray session at a counter. Body: store_id, counter_id."""
    store_id, counter_id = parse_new_session(await v.json_object(request))
    database: Database = request.app.state.database
    check_store_open(await get_store_row(request, store_id))
    values = new_session(store_id, counter_id)
    await database.execute(tray_sessions.insert().values(**values))
    return JSONResponse(new_session_json(values), status_code=201)


async def get_session(request: Request) -> JSONResponse:
    """A session with its recognition runs, reviews and bill."""
    database: Database = request.app.state.database
    session = await session_row(database, request.path_params["session"])
    return JSONResponse(await session_json(database, session))


@idempotent
async def infer(request: Request) -> JSONResponse:
    """Send the tray's frames to the AI and store what it saw. Body: frames_b64 (1-MAX_FRAMES).

    A REVIEW or UNKNOWN answer, or an AI that is down, slow or talking nonsense, opens a review.
    """
    settings = request.app.state.settings
    database: Database = request.app.state.database
    data = await v.json_object(request)
    v.only(data, {"frames_b64"})
    frames = check_frames(data, settings.max_frames, settings.max_frame_bytes)
    # One pooled connection for each database phase, never held across the AI call.
    async with database.connection():
        session = await session_row(database, request.path_params["session"])
        token, candidates = await claim_for_inference(
            database, session, stale_after_s=2 * settings.ai_timeout_s + 30
        )
    try:
        counter = ai_counter_id(session.store_id, session.counter_id)
        outcome = await ask_ai(request, session.uuid, frames, candidates, counter)
        async with database.connection():
            body = await store_run(database, session, token, outcome, len(frames))
    except BaseException:
        await release_claim(database, session, token)
        raise
    if outcome.answer is None:
        log.warning(
            "AI unavailable; the tray goes to staff review",
            extra={
                "session": session.uuid,
                "ai_status": outcome.ai_status,
                "ai_error": outcome.ai_error,
            },
        )
    request.app.state.metrics.decisions.labels(body["run"]["decision"]).inc()
    return JSONResponse(body, status_code=201)


@dataclass(frozen=True)
class Outcome:
    """What came of asking the AI: its checked answer, or why there is none."""

    answer: dict[str, Any] | None
    ai_status: str  # OK, UNREACHABLE, TIMEOUT, HTTP_5XX, HTTP_4XX or INVALID_RESPONSE
    ai_error: str | None
    latency_ms: int


def _failure_status(error: AIError) -> str:
    if isinstance(error, AITimeout):
        return "TIMEOUT"
    if isinstance(error, AIHTTPError):
        return "HTTP_5XX" if error.status_code >= 500 else "HTTP_4XX"
    if isinstance(error, AIInvalidAnswer):
        return "INVALID_RESPONSE"
    return "UNREACHABLE"


async def ask_ai(
    request: Request,
    tray_id: str,
    frames: list[str],
    candidates: list[str],
    counter_id: str | None = None,
) -> Outcome:
    """Every way the call can fail becomes an Outcome without an answer: never an exception."""
    started = time.perf_counter()
    try:
        answer: dict[str, Any] | None = await request.app.state.ai.infer(
            frames,
            candidates,
            request_id=request.scope.get("request_id"),
            tray_id=tray_id,
            counter_id=counter_id,
        )
        status, error = "OK", None
    except AIError as failure:
        answer, status, error = None, _failure_status(failure), str(failure)[:500]
    latency_ms = int((time.perf_counter() - started) * 1000)
    metrics = request.app.state.metrics
    metrics.ai_calls.labels(status).inc()
    metrics.ai_latency.observe(latency_ms / 1000)
    return Outcome(answer, status, error, latency_ms)


async def claim_for_inference(
    database: Database, session: Any, stale_after_s: float
) -> tuple[str, list[str]]:
    """Mark the session INFERRING for this request alone, or refuse with 409.

    The conditional UPDATE is atomic; reading the token back tells whether this request won.
    A claim older than `stale_after_s` belonged to an instance that died mid-call.
    Returns the claim's token and the store's active SKUs, the AI's candidates.
    """
    if session.status == "CHECKED_OUT":
        raise conflict("session_closed", "this tray session is already checked out")
    token = str(uuid.uuid4())
    now = utcnow()
    stale = now - dt.timedelta(seconds=stale_after_s)
    await database.execute(
        tray_sessions.update()
        .where(
            tray_sessions.c.id == session.id,
            sa.or_(
                tray_sessions.c.status.in_(INFERABLE),
                sa.and_(tray_sessions.c.status == "INFERRING", tray_sessions.c.claimed_at < stale),
            ),
        )
        .values(status="INFERRING", claim_token=token, claimed_at=now, updated_at=now)
    )
    # Read the token back together with the store's active SKUs: one round trip, not two.
    rows = await database.fetch_all(
        sa.select(tray_sessions.c.claim_token, tray_sessions.c.status, products.c.sku)
        .select_from(
            tray_sessions.outerjoin(
                products,
                sa.and_(
                    products.c.store_id == tray_sessions.c.store_id,
                    products.c.active == sa.true(),
                ),
            )
        )
        .where(tray_sessions.c.id == session.id)
        .order_by(products.c.sku)
    )
    if not rows or rows[0].claim_token != token:
        if rows and rows[0].status == "CHECKED_OUT":
            raise conflict("session_closed", "this tray session is already checked out")
        raise conflict(
            "inference_in_progress", "another inference is running for this tray session"
        )
    return token, [row.sku for row in rows if row.sku is not None]


async def release_claim(database: Database, session: Any, token: str) -> None:
    """Give the session back as it was when storing the run failed."""
    await database.execute(
        tray_sessions.update()
        .where(tray_sessions.c.id == session.id, tray_sessions.c.claim_token == token)
        .values(status=session.status, claim_token=None, claimed_at=None, updated_at=utcnow())
    )


async def store_run(
    database: Database, session: Any, token: str, outcome: Outcome, frame_count: int
) -> dict[str, Any]:
    """Store the run, its items and any review, and move the session on — all or nothing.

    Returns the infer answer: the session's new state with this run and its review.
    """
    now = utcnow()
    answer = outcome.answer
    if answer is not None:
        decision = answer["decision"]
        run_values = {
            "decision": decision,
            "reason": str(answer.get("reason") or decision.lower())[:255],
            "model_version": str(answer.get("model_version") or "unknown")[:128],
            "device": str(answer.get("device") or "unknown")[:32],
        }
        review_reason = None if decision == "AUTO" else decision
    else:
        run_values = {
            "decision": "UNKNOWN",
            "reason": "AI unavailable",
            "model_version": None,
            "device": None,
        }
        review_reason = "AI_UNAVAILABLE"
    run_values.update(
        ai_status=outcome.ai_status, ai_error=outcome.ai_error, ai_latency_ms=outcome.latency_ms
    )
    status = "IN_REVIEW" if review_reason else "PAYABLE"
    # Swapping our claim token for a fresh one both finishes the claim and, read back, proves
    # this request still held it; on MySQL the UPDATE also locks the row until the commit.
    finished = str(uuid.uuid4())
    async with database.transaction():
        await database.execute(
            tray_sessions.update()
            .where(tray_sessions.c.id == session.id, tray_sessions.c.claim_token == token)
            .values(status=status, claim_token=finished, claimed_at=None, updated_at=now)
        )
        holder = await database.fetch_val(
            sa.select(tray_sessions.c.claim_token).where(tray_sessions.c.id == session.id)
        )
        if holder != finished:
            raise conflict("inference_superseded", "a newer inference took over this tray session")
        run_id = await database.execute(
            recognition_runs.insert().values(
                session_id=session.id, frame_count=frame_count, created_at=now, **run_values
            )
        )
        items = [
            {
                "sku": item["sku"],
                "count": item["count"],
                "confidence": float(item["confidence"]),
                "candidates": item.get("candidates") or [],
                "boxes": item.get("boxes") or [],
            }
            for item in (answer["items"] if answer is not None else [])
        ]
        if items:  # one multi-row INSERT: execute_many would send a statement per item
            await database.execute(
                recognition_items.insert().values(
                    [
                        {
                            **item,
                            "run_id": run_id,
                            "candidates": dumps(item["candidates"]),
                            "boxes": dumps(item["boxes"]),
                        }
                        for item in items
                    ]
                )
            )
        if session.status != "OPEN":
            # The latest run decides: an older open review no longer describes the tray.
            await database.execute(
                reviews.update()
                .where(reviews.c.session_id == session.id, reviews.c.status == "OPEN")
                .values(status="SUPERSEDED")
            )
        review = None
        if review_reason is not None:
            review = {
                "session_id": session.id,
                "run_id": run_id,
                "store_id": session.store_id,
                "reason": review_reason,
                "status": "OPEN",
                "created_at": now,
            }
            review_id = await database.execute(reviews.insert().values(**review))
            review.update(id=review_id, final_items=None, resolved_by=None, resolved_at=None)
    run = {"id": run_id, "frame_count": frame_count, "created_at": now, **run_values}
    return {
        **session_head({**session._mapping, "status": status, "updated_at": now}),
        "run": run_json(run, items),
        "review": review_json(review) if review is not None else None,
    }


@idempotent
async def checkout(request: Request) -> JSONResponse:
    """Bill a payable session from server-side prices. Body: payment_status, payment_reference."""
    database: Database = request.app.state.database
    body = await request.body()
    data = await v.json_object(request) if body.strip() else {}
    v.only(data, {"payment_status", "payment_reference"})
    payment_status = v.string(data, "payment_status", max_len=16, default="PENDING").upper()
    if payment_status not in PAYMENT_STATUSES:
        raise v.invalid("payment_status", f"must be one of {', '.join(sorted(PAYMENT_STATUSES))}")
    reference = v.string(data, "payment_reference", max_len=128, required=False)
    session = await session_row(database, request.path_params["session"])
    if session.status == "CHECKED_OUT":
        raise conflict("already_checked_out", "this tray session already has a bill")
    if session.status != "PAYABLE":
        open_review = await database.fetch_val(
            sa.select(reviews.c.id).where(
                reviews.c.session_id == session.id, reviews.c.status == "OPEN"
            )
        )
        raise conflict(
            "not_payable",
            "the tray is not payable: it needs an AUTO recognition or a resolved review",
            status=session.status,
            open_review_id=open_review,
        )
    counts, source = await payable_items(database, session)
    if not counts:
        raise conflict("nothing_to_bill", "the recognized tray holds no products")
    priced = {
        row.sku: row
        for row in await database.fetch_all(
            products.select().where(
                products.c.store_id == session.store_id, products.c.sku.in_(list(counts))
            )
        )
    }
    missing = sorted(set(counts) - set(priced))
    if missing:
        raise conflict("unknown_sku", f"no price for SKU(s) {', '.join(missing)}", skus=missing)
    lines = [
        {
            "sku": sku,
            "name": priced[sku].name,
            "unit_price_krw": priced[sku].unit_price_krw,
            "count": count,
            "line_total_krw": priced[sku].unit_price_krw * count,
        }
        for sku, count in sorted(counts.items())
    ]
    now = utcnow()
    try:
        async with database.transaction():
            await database.execute(
                tray_sessions.update()
                .where(tray_sessions.c.id == session.id, tray_sessions.c.status == "PAYABLE")
                .values(status="CHECKED_OUT", updated_at=now)
            )
            status = await database.fetch_val(
                sa.select(tray_sessions.c.status).where(tray_sessions.c.id == session.id)
            )
            if status != "CHECKED_OUT":
                raise conflict(
                    "not_payable", "the tray changed while billing; fetch it again", status=status
                )
            bill_id = await database.execute(
                bills.insert().values(
                    session_id=session.id,
                    total_krw=sum(line["line_total_krw"] for line in lines),
                    source=source,
                    payment_status=payment_status,
                    payment_reference=reference,
                    created_at=now,
                )
            )
            await database.execute(
                bill_lines.insert().values([{"bill_id": bill_id, **line} for line in lines])
            )
    except Exception as exc:
        if is_duplicate(exc):
            raise conflict("already_checked_out", "this tray session already has a bill") from None
        raise
    session = await session_row(database, session.uuid)
    return JSONResponse(await session_json(database, session), status_code=201)


async def payable_items(database: Database, session: Any) -> tuple[Counter[str], str]:
    """What the customer pays for: the AUTO run's items, or the staff's resolution of its review."""
    run = await database.fetch_one(
        recognition_runs.select()
        .where(recognition_runs.c.session_id == session.id)
        .order_by(recognition_runs.c.id.desc())
        .limit(1)
    )
    if run is None:
        raise conflict("not_payable", "the tray has not been recognized")
    review = await database.fetch_one(reviews.select().where(reviews.c.run_id == run.id))
    counts: Counter[str] = Counter()
    if review is not None:
        if review.status != "RESOLVED":
            raise conflict("not_payable", "the tray's review is not resolved", review_id=review.id)
        for item in loads(review.final_items):
            counts[item["sku"]] += item["count"]
        return counts, "REVIEW"
    if run.decision != "AUTO" or run.ai_status != "OK":
        raise ApiError(409, "not_payable", "the latest recognition is not an AUTO decision")
    for item in await database.fetch_all(
        recognition_items.select().where(recognition_items.c.run_id == run.id)
    ):
        counts[item.sku] += item._mapping["count"]
    return counts, "AUTO"


routes = [
    Route("/api/v1/tray-sessions", create_session, methods=["POST"]),
    Route("/api/v1/tray-sessions/{session}", get_session, methods=["GET"]),
    Route("/api/v1/tray-sessions/{session}/infer", infer, methods=["POST"]),
    Route("/api/v1/tray-sessions/{session}/checkout", checkout, methods=["POST"]),
]
