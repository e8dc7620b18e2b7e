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
from starlette.routing import Route

from central import validation as v
from central.db import Database, utcnow
from central.errors import conflict
from central.idempotency import answer, idempotent
from central.inference import locked_session
from central.presentation import session_json
from central.states import RETRYABLE, VOIDED, AttemptKind, PaymentStatus
from central.tables import bills, payment_attempts

MAX_REASON = 500


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
    data = await v.json_object(request)
    v.only(data, {"payment_status", "payment_reference"})
    status = v.string(data, "payment_status", max_len=16).upper()
    if status not in PaymentStatus.__members__:
        raise v.invalid("payment_status", f"must be one of {', '.join(PaymentStatus)}")
    reference = v.string(data, "payment_reference", max_len=128, required=False)
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
    data = await v.json_object(request)
    v.only(data, {"reason", "voided_by"})
    reason = v.string(data, "reason", max_len=MAX_REASON)
    voided_by = v.string(data, "voided_by", max_len=128)
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


routes = [
    Route("/api/v1/tray-sessions/{session}/payment-attempts", retry_payment, methods=["POST"]),
    Route("/api/v1/tray-sessions/{session}/void", void_bill, methods=["POST"]),
]
