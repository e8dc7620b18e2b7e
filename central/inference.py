"""Letting the AI look at a tray: claim the session, ask, store what came of it, or give it back.

The claim marks the session INFERRING for one request, which holds it for at most the AI's
whole deadline plus a margin (the lease). A claim left behind by an instance that died is
recovered by `recover_abandoned`: the session gets a run that says so and a staff review, so the
tray is visible in the queue and can be rescanned within seconds — never stuck, never payable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse

from central.ai_client import AIError, AIHTTPError, AIInvalidAnswer, AITimeout
from central.db import UNAVAILABLE_ERRORS, Database, dumps, eventually, utcnow
from central.errors import conflict, not_found
from central.idempotency import answer
from central.presentation import review_json, run_json, session_head
from central.states import (
    INFERABLE,
    AIStatus,
    Decision,
    ReviewReason,
    ReviewStatus,
    SessionStatus,
)
from central.tables import products, recognition_items, recognition_runs, reviews, tray_sessions

log = logging.getLogger("central.inference")

# How often each instance looks for claims abandoned by a dead instance.
SWEEP_EVERY_S = 1.0


@dataclass(frozen=True)
class Outcome:
    """What came of asking the AI: its checked answer, or why there is none."""

    answer: dict[str, Any] | None
    ai_status: AIStatus
    ai_error: str | None
    latency_ms: int


@dataclass(frozen=True)
class Claim:
    """A session held for one inference: its row before the claim, the token, the candidates."""

    session: Any
    token: str
    candidates: list[str]


def _failure_status(error: AIError) -> AIStatus:
    if isinstance(error, AITimeout):
        return AIStatus.TIMEOUT
    if isinstance(error, AIHTTPError):
        return AIStatus.HTTP_5XX if error.status_code >= 500 else AIStatus.HTTP_4XX
    if isinstance(error, AIInvalidAnswer):
        return AIStatus.INVALID_RESPONSE
    return AIStatus.UNREACHABLE


async def ask_ai(
    request: Request,
    tray_id: str,
    frames: list[str],
    candidates: list[str],
    counter_id: str | None = None,
    store_id: str | None = None,
) -> Outcome:
    """Every way the call can fail becomes an Outcome without an answer: never an exception."""
    started = time.perf_counter()
    try:
        result: dict[str, Any] | None = await request.app.state.ai.infer(
            frames,
            candidates,
            request_id=request.scope.get("request_id"),
            tray_id=tray_id,
            counter_id=counter_id,
            store_id=store_id,
        )
        status, error = AIStatus.OK, None
    except AIError as failure:
        result, status, error = None, _failure_status(failure), str(failure)[:500]
    latency_ms = int((time.perf_counter() - started) * 1000)
    metrics = request.app.state.metrics
    metrics.ai_calls.labels(status).inc()
    metrics.ai_latency.observe(latency_ms / 1000)
    return Outcome(result, status, error, latency_ms)


async def locked_session(conn: AsyncConnection, session_uuid: str) -> Any:
    """The session's row, locked until the transaction ends (SQLite: its write lock already is).

    Every transaction that changes a session's status takes this lock first, so claims, stored
    runs, resolutions and checkouts of one tray happen one after another, never interleaved.
    """
    row = (
        await conn.execute(
            tray_sessions.select().where(tray_sessions.c.uuid == session_uuid).with_for_update()
        )
    ).first()
    if row is None:
        raise not_found("tray session", session=session_uuid)
    return row


async def claim_for_inference(
    database: Database,
    session_uuid: str,
    lease: dt.timedelta,
    token: str | None = None,
    retries: str | None = None,
) -> Claim:
    """Mark the session INFERRING for this request alone, or refuse with 409 (and Retry-After).

    A claim older than the lease belonged to an instance that died mid-call: it is taken over.
    So is, at once, the claim of `retries`: the token of a request that died holding the same
    Idempotency-Key this request now holds (the key's owner token doubles as the claim token).
    """
    now = utcnow()
    async with database.transaction() as conn:
        session = await locked_session(conn, session_uuid)
        if session.status == SessionStatus.CHECKED_OUT:
            raise conflict("session_closed", "this tray session is already checked out")
        abandoned = session.status == SessionStatus.INFERRING and (
            session.claimed_at is None
            or session.claimed_at < now - lease
            or (retries is not None and session.claim_token == retries)
        )
        if session.status not in INFERABLE and not abandoned:
            wait_s = (session.claimed_at + lease - now).total_seconds()
            raise conflict(
                "inference_in_progress",
                "another inference is running for this tray session",
                retry_after_s=max(1, math.ceil(wait_s)),
            )
        token = token or str(uuid.uuid4())
        await conn.execute(
            tray_sessions.update()
            .where(tray_sessions.c.id == session.id)
            .values(
                status=SessionStatus.INFERRING, claim_token=token, claimed_at=now, updated_at=now
            )
        )
        skus = await conn.execute(
            sa.select(products.c.sku)
            .where(products.c.store_id == session.store_id, products.c.active == sa.true())
            .order_by(products.c.sku)
        )
        return Claim(session, token, [row.sku for row in skus])


async def release_claim(database: Database, claim: Claim, lease: dt.timedelta) -> None:
    """Give the session back as it was, after the request failed before storing a run.

    With the database away this is retried in the background; the sweeper covers the rest.
    """
    previous = claim.session.status
    if previous == SessionStatus.INFERRING:
        # This request took over an abandoned claim and failed too: what the tray was before
        # is unknown here, so the sweeper sends it to review (superseding any older one).
        return
    release = (
        tray_sessions.update()
        .where(tray_sessions.c.id == claim.session.id, tray_sessions.c.claim_token == claim.token)
        .values(status=previous, claim_token=None, claimed_at=None, updated_at=utcnow())
    )
    await eventually(lambda: database.execute(release), lease.total_seconds())


def _run_values(outcome: Outcome) -> tuple[dict[str, Any], ReviewReason | None]:
    result = outcome.answer
    if result is None:
        values: dict[str, Any] = {
            "decision": Decision.UNKNOWN,
            "reason": "AI unavailable",
            "model_version": None,
            "device": None,
        }
        reason: ReviewReason | None = ReviewReason.AI_UNAVAILABLE
    else:
        decision = Decision(result["decision"])
        values = {
            "decision": decision,
            "reason": str(result.get("reason") or decision.lower())[:255],
            "model_version": str(result.get("model_version") or "unknown")[:128],
            "device": str(result.get("device") or "unknown")[:32],
        }
        reason = None if decision == Decision.AUTO else ReviewReason(decision.value)
    values.update(
        ai_status=outcome.ai_status, ai_error=outcome.ai_error, ai_latency_ms=outcome.latency_ms
    )
    return values, reason


async def store_run(
    database: Database,
    request: Request,
    claim: Claim,
    outcome: Outcome,
    frame_count: int,
    archived: list[str] | None = None,
) -> JSONResponse:
    """Store the run, its items and any review, move the session on and record the answer under
    the request's Idempotency-Key — all in one transaction, or nothing. `archived`: the names of
    the frames in the tray archive (None: not archived).
    """
    run_values, review_reason = _run_values(outcome)
    run_values["frames"] = dumps(archived) if archived else None
    items = [
        {
            "sku": item["sku"],
            "count": item["count"],
            "confidence": float(item["confidence"]),
            "candidates": item.get("candidates") or [],
            "boxes": item.get("boxes") or [],
        }
        for item in (outcome.answer["items"] if outcome.answer is not None else [])
    ]
    status = SessionStatus.IN_REVIEW if review_reason else SessionStatus.PAYABLE
    now = utcnow()
    session = claim.session
    async with database.transaction() as conn:
        # Finishing the claim first both proves this request still holds it (a compare-and-set
        # on the token) and locks the row until the commit: one round trip for both.
        finished = await conn.execute(
            tray_sessions.update()
            .where(tray_sessions.c.id == session.id, tray_sessions.c.claim_token == claim.token)
            .values(status=status, claim_token=None, claimed_at=None, updated_at=now)
        )
        if finished.rowcount != 1:
            raise conflict("inference_superseded", "a newer inference took over this tray session")
        run, review = await _record(
            conn, session, session.status, run_values, items, review_reason, frame_count, now
        )
        body = {
            **session_head({**session._mapping, "status": status, "updated_at": now}),
            "run": run_json(run, items),
            "review": review_json(review) if review is not None else None,
        }
        return await answer(conn, request, body, 201)


async def _record(
    conn: AsyncConnection,
    session: Any,
    previous_status: str,
    run_values: dict[str, Any],
    items: list[dict[str, Any]],
    review_reason: ReviewReason | None,
    frame_count: int,
    now: dt.datetime,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Insert a run with its items and, when staff must look, a review; return both rows."""
    inserted = await conn.execute(
        recognition_runs.insert().values(
            session_id=session.id, frame_count=frame_count, created_at=now, **run_values
        )
    )
    run_id = inserted.lastrowid
    if items:  # one multi-row INSERT, not a statement per item
        await conn.execute(
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
    if previous_status != SessionStatus.OPEN:
        # The latest run decides: an older open review no longer describes the tray.
        await conn.execute(
            reviews.update()
            .where(reviews.c.session_id == session.id, reviews.c.status == ReviewStatus.OPEN)
            .values(status=ReviewStatus.SUPERSEDED)
        )
    review = None
    if review_reason is not None:
        review = {
            "session_id": session.id,
            "run_id": run_id,
            "store_id": session.store_id,
            "reason": review_reason,
            "status": ReviewStatus.OPEN,
            "created_at": now,
        }
        review_id = (await conn.execute(reviews.insert().values(**review))).lastrowid
        review.update(id=review_id, final_items=None, resolved_by=None, resolved_at=None)
    run = {"id": run_id, "frame_count": frame_count, "created_at": now, **run_values}
    return run, review


async def recover_abandoned(database: Database, lease: dt.timedelta) -> int:
    """Send every session whose claim outlived its lease to staff review; return how many.

    The run it records says the AI's answer was lost (ai_status ABANDONED); a rescan or a review
    resolution then proceeds as after any AI failure.
    """
    now = utcnow()
    stale = await database.fetch_all(
        sa.select(tray_sessions.c.uuid)
        .where(
            tray_sessions.c.status == SessionStatus.INFERRING,
            tray_sessions.c.claimed_at < now - lease,
        )
        .limit(100)
    )
    recovered = 0
    for row in stale:
        async with database.transaction() as conn:
            session = await locked_session(conn, row.uuid)
            if session.status != SessionStatus.INFERRING or (
                session.claimed_at is not None and session.claimed_at >= now - lease
            ):
                continue  # finished or re-claimed meanwhile
            values = {
                "decision": Decision.UNKNOWN,
                "reason": "inference abandoned: the instance asking the AI stopped",
                "model_version": None,
                "device": None,
                "ai_status": AIStatus.ABANDONED,
                "ai_error": None,
                "ai_latency_ms": None,
                "frames": None,
            }
            await _record(
                conn, session, session.status, values, [], ReviewReason.AI_UNAVAILABLE, 0, now
            )
            await conn.execute(
                tray_sessions.update()
                .where(tray_sessions.c.id == session.id)
                .values(
                    status=SessionStatus.IN_REVIEW,
                    claim_token=None,
                    claimed_at=None,
                    updated_at=now,
                )
            )
            recovered += 1
    if recovered:
        log.warning("abandoned inferences sent to staff review", extra={"sessions": recovered})
    return recovered


async def sweep_forever(database: Database, lease: dt.timedelta) -> None:
    """Run `recover_abandoned` every SWEEP_EVERY_S until cancelled; outages are waited out."""
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        try:
            await recover_abandoned(database, lease)
        except UNAVAILABLE_ERRORS:
            log.debug("sweep skipped: database unavailable")
        except Exception:
            log.exception("sweep for abandoned inferences failed")
