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

from central import apidoc
from central import validation as v
from central.apidoc import api_route
from central.archive import archive_frames
from central.billing import bill_session
from central.db import Database, utcnow
from central.errors import conflict, not_found
from central.frames import FRAME_ERRORS, FRAMES, check_frames
from central.idempotency import answer, idempotent, key_claim, lease_for
from central.inference import ask_ai, claim_for_inference, release_claim, store_run
from central.presentation import new_session_json, session_json
from central.references import ai_counter_id, ai_store_id
from central.states import PaymentStatus, SessionStatus
from central.tables import stores, tray_sessions
from servicekit import openapi as oa

log = logging.getLogger("central.trays")

COUNTER_RE = v.CODE_RE
NEW_SESSION = oa.obj(
    {
        "store_id": oa.integer(minimum=1, maximum=2**31 - 1),
        "counter_id": v.text(32, COUNTER_RE),
    },
    required=["store_id", "counter_id"],
    additional=False,
)
PAYMENT_STATUSES = list(PaymentStatus)
CHECKOUT = oa.obj(
    {
        "payment_status": v.text(
            16,
            enum=PAYMENT_STATUSES,
            default=PaymentStatus.PENDING.value,
            description="what the counter's payment did (case does not matter)",
        ),
        "payment_reference": v.text(128, description="the payment provider's reference"),
    },
    additional=False,
)


def parse_new_session(data: dict[str, Any]) -> tuple[int, str]:
    """The store and counter a new session is opened for."""
    values = v.fields(data, NEW_SESSION)
    return values["store_id"], values["counter_id"]


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
    v.only(data, set(FRAMES["properties"]))
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
    values = v.fields(data, CHECKOUT)
    payment_status = v.one_of("payment_status", values["payment_status"], sorted(PAYMENT_STATUSES))
    reference = values["payment_reference"]
    async with database.transaction() as conn:
        session = await bill_session(
            conn, request.path_params["session"], payment_status, reference
        )
        return await answer(conn, request, await session_json(conn, session), 201)


SESSION = oa.Answer("the session, its runs, reviews and bill", oa.ref("Session"))


# The bodies a link sends: a frame the services accept, a paid checkout.
_LINK_BODIES: dict[str, oa.Schema] = {
    "infer": {"frames_b64": [oa.EXAMPLE_PNG_B64]},
    "checkout": {"payment_status": "PAID"},
}


def _next(description: str, schema: str, *operations: str) -> oa.Answer:
    """An answer about a session, linked to what may follow it."""
    links = {name: oa.link(name, _LINK_BODIES.get(name), session="/uuid") for name in operations}
    return oa.Answer(description, oa.ref(schema), links=links)


SESSIONS = "/api/v1/tray-sessions"
routes = apidoc.routes(
    api_route(
        "POST",
        SESSIONS,
        create_session,
        body=NEW_SESSION,
        ok={201: _next("the new session", "Session", "get_session", "infer", "checkout")},
        errors={404: "no such store (not_found)", 409: "the store is not active (store_inactive)"},
        idempotent=True,
    ),
    api_route("GET", SESSIONS + "/{session}", get_session, ok={200: SESSION}),
    api_route(
        "POST",
        SESSIONS + "/{session}/infer",
        infer,
        body=FRAMES,
        ok={
            201: _next("the session with its new run and review", "Scan", "get_session", "checkout")
        },
        errors=oa.refusals(
            FRAME_ERRORS,
            {409: "the session cannot be scanned now: checked out, or being scanned"},
        ),
        idempotent=True,
    ),
    api_route(
        "POST",
        SESSIONS + "/{session}/checkout",
        checkout,
        body=CHECKOUT,
        body_required=False,
        ok={
            201: _next(
                "the session with its bill", "Session", "retry_payment", "void_bill", "get_session"
            )
        },
        errors={409: "the session is not payable, or already billed"},
        idempotent=True,
    ),
)
