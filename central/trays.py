"""Tray session routes: open one, let the AI look at the tray, and bill it.

A session is payable only from an AUTO run the AI answered cleanly, or from a staff review that
was resolved — never otherwise. The work lives in `inference` and `billing`; the JSON shapes in
`presentation`; the statuses in `states`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from central import validation as v
from central.archive import archive_frames
from central.billing import bill_session
from central.db import Database, utcnow
from central.errors import conflict, not_found
from central.frames import check_frames
from central.idempotency import answer, idempotent, key_claim, lease_for
from central.inference import ask_ai, claim_for_inference, release_claim, store_run
from central.presentation import new_session_json, session_json
from central.references import ai_counter_id, ai_store_id
from central.states import PaymentStatus, SessionStatus
from central.tables import stores, tray_sessions

log = logging.getLogger("central.trays")

COUNTER_RE = v.CODE_RE


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
        "status": SessionStatus.OPEN,
        "created_at": now,
        "updated_at": now,
    }


@idempotent
async def create_session(request: Request) -> JSONResponse:
    """Open a tray session at a counter. Body: store_id, counter_id."""
    store_id, counter_id = parse_new_session(await v.json_object(request))
    database: Database = request.app.state.database
    async with database.transaction() as conn:
        store = (await conn.execute(stores.select().where(stores.c.id == store_id))).first()
        if store is None:
            raise not_found("store", store_id=store_id)
        check_store_open(store)
        values = new_session(store_id, counter_id)
        await conn.execute(tray_sessions.insert().values(**values))
        return await answer(conn, request, new_session_json(values), 201)


async def get_session(request: Request) -> JSONResponse:
    """A session with its recognition runs, reviews and bill."""
    database: Database = request.app.state.database
    session_uuid = request.path_params["session"]
    async with database.connection() as conn:
        session = (
            await conn.execute(tray_sessions.select().where(tray_sessions.c.uuid == session_uuid))
        ).first()
        if session is None:
            raise not_found("tray session", session=session_uuid)
        return JSONResponse(await session_json(conn, session))


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
    # No database connection is held across the AI call.
    held, lease = key_claim(request), lease_for(settings)
    claim = await claim_for_inference(
        database,
        request.path_params["session"],
        lease,
        token=held.owner if held else None,
        retries=held.took_over_from if held else None,
    )
    try:
        counter = ai_counter_id(claim.session.store_id, claim.session.counter_id)
        # The frames are archived while the AI looks at them; a failed write is only counted.
        outcome, archived = await asyncio.gather(
            ask_ai(
                request,
                claim.session.uuid,
                frames,
                claim.candidates,
                counter,
                ai_store_id(claim.session.store_id),
            ),
            archive_frames(
                settings.tray_archive,
                claim.session.uuid,
                frames,
                request.app.state.metrics.archive_failures,
            ),
        )
        response = await store_run(database, request, claim, outcome, len(frames), archived)
    except BaseException:
        await release_claim(database, claim, lease)
        raise
    if outcome.answer is None:
        log.warning(
            "AI unavailable; the tray goes to staff review",
            extra={
                "session": claim.session.uuid,
                "ai_status": outcome.ai_status,
                "ai_error": outcome.ai_error,
            },
        )
    decision = outcome.answer["decision"] if outcome.answer is not None else "UNKNOWN"
    request.app.state.metrics.decisions.labels(decision).inc()
    return response


@idempotent
async def checkout(request: Request) -> JSONResponse:
    """Bill a payable session from server-side prices. Body: payment_status, payment_reference."""
    database: Database = request.app.state.database
    body = await request.body()
    data = await v.json_object(request) if body.strip() else {}
    v.only(data, {"payment_status", "payment_reference"})
    payment_status = v.string(data, "payment_status", max_len=16, default="PENDING").upper()
    if payment_status not in PaymentStatus.__members__:
        allowed = ", ".join(sorted(PaymentStatus.__members__))
        raise v.invalid("payment_status", f"must be one of {allowed}")
    reference = v.string(data, "payment_reference", max_len=128, required=False)
    async with database.transaction() as conn:
        session = await bill_session(
            conn, request.path_params["session"], payment_status, reference
        )
        return await answer(conn, request, await session_json(conn, session), 201)


routes = [
    Route("/api/v1/tray-sessions", create_session, methods=["POST"]),
    Route("/api/v1/tray-sessions/{session}", get_session, methods=["GET"]),
    Route("/api/v1/tray-sessions/{session}/infer", infer, methods=["POST"]),
    Route("/api/v1/tray-sessions/{session}/checkout", checkout, methods=["POST"]),
]
