"""After checkout: pay a bill again when the first payment failed or hangs, or void it.

A bill whose payment is FAILED or PENDING does not lock the tray for good: the counter makes a
new attempt on the same bill (with an Idempotency-Key, so a retried request never pays twice),
and staff may void a bill with a reason. Each change is a row in `payment_attempts`, shown
oldest first as the bill's `history` in the session view. A voided bill is closed: it can be
neither paid nor voided again; the customer's tray is scanned in a new session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse

from central import apidoc
from central import validation as v
from central.apidoc import api_route
from central.db import Database, utcnow
from central.errors import conflict
from central.idempotency import answer, idempotent
from central.inference import locked_session
from central.presentation import session_json
from central.states import RETRYABLE, VOIDED, AttemptKind, PaymentStatus
from central.tables import bills, payment_attempts
from servicekit import openapi as oa

MAX_REASON = 500
PAYMENT_STATUSES = list(PaymentStatus)
RETRY = oa.obj(
    {
        "payment_status": v.text(
            16, enum=PAYMENT_STATUSES, description="the new attempt's outcome (any case)"
        ),
        "payment_reference": v.text(128, description="the payment provider's reference"),
    },
    required=["payment_status"],
    additional=False,
)
VOID = oa.obj(
    {"reason": v.text(MAX_REASON, multiline=True), "voided_by": v.text(128)},
    required=["reason", "voided_by"],
    additional=False,
)


async def _bill(conn: AsyncConnection, session: Any) -> Any:
    bill = (await conn.execute(bills.select().where(bills.c.session_id == session.id))).first()
    if bill is None:
        raise conflict("not_billed", "this tray session has no bill yet: check it out first")
    return bill


async def _record(
    conn: AsyncConnection, bill: Any, kind: AttemptKind, status: str, **values: Any
) -> None:
    now = utcnow()
    await conn.execute(
        payment_attempts.insert().values(
            bill_id=bill.id,
            kind=kind,
            from_status=bill.payment_status,
            payment_status=status,
            created_at=now,
            **values,
        )
    )
    changes: dict[str, Any] = {"payment_status": status}
    if values.get("payment_reference") is not None:
        changes["payment_reference"] = values["payment_reference"]
    await conn.execute(bills.update().where(bills.c.id == bill.id).values(**changes))


@idempotent
async def retry_payment(request: Request) -> JSONResponse:
    """Pay a FAILED or PENDING bill again. Body: payment_status (PAID/PENDING/FAILED),
    payment_reference. Send an Idempotency-Key: a retried request then never pays twice."""
    values = v.fields(await v.json_object(request), RETRY)
    status = v.one_of("payment_status", values["payment_status"], PAYMENT_STATUSES)
    reference = values["payment_reference"]
    database: Database = request.app.state.database
    async with database.transaction() as conn:
        session = await locked_session(conn, request.path_params["session"])
        bill = await _bill(conn, session)
        if bill.payment_status not in RETRYABLE:
            code = "bill_voided" if bill.payment_status == VOIDED else "already_paid"
            raise conflict(
                code,
                f"the bill is {bill.payment_status}: only a FAILED or PENDING bill is paid again",
                payment_status=bill.payment_status,
            )
        await _record(
            conn, bill, AttemptKind.RETRY, status, payment_reference=reference, actor=_role(request)
        )
        return await answer(conn, request, await session_json(conn, session), 201)


@idempotent
async def void_bill(request: Request) -> JSONResponse:
    """Void a bill, saying why. Body: reason, voided_by. Staff may do this."""
    values = v.fields(await v.json_object(request), VOID)
    reason, voided_by = values["reason"], values["voided_by"]
    database: Database = request.app.state.database
    async with database.transaction() as conn:
        session = await locked_session(conn, request.path_params["session"])
        bill = await _bill(conn, session)
        if bill.payment_status == VOIDED:
            raise conflict("bill_voided", "the bill is already voided", payment_status=VOIDED)
        await _record(
            conn,
            bill,
            AttemptKind.VOID,
            VOIDED,
            reason=reason,
            actor=f"{voided_by} ({_role(request)})",
        )
        return await answer(conn, request, await session_json(conn, session), 201)


def _role(request: Request) -> str:
    return str(request.scope.get("state", {}).get("role", "admin"))


SESSION = oa.Answer("the session, its bill and the bill's history", oa.ref("Session"))
routes = apidoc.routes(
    api_route(
        "POST",
        "/api/v1/tray-sessions/{session}/payment-attempts",
        retry_payment,
        body=RETRY,
        ok={201: SESSION},
        errors={
            409: "no bill yet (not_billed), or it is paid or voided (already_paid, bill_voided)"
        },
        idempotent=True,
    ),
    api_route(
        "POST",
        "/api/v1/tray-sessions/{session}/void",
        void_bill,
        body=VOID,
        ok={201: SESSION},
        errors={409: "no bill yet (not_billed), or it is voided already (bill_voided)"},
        idempotent=True,
    ),
)
