"""A store's bills, newest first, for the staff console's bills page and the store's operators.

Each bill comes with its tray session, lines and payment history (retries and a void), so staff
see at a glance which payments failed or hang, and retry (admin) or void (staff) them with the
routes in `central.payments`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from central import apidoc
from central import validation as v
from central.apidoc import api_route
from central.presentation import bill_body
from central.states import VOIDED, PaymentStatus
from central.stores import get_store_row
from central.tables import bill_lines, bills, payment_attempts, tray_sessions
from servicekit import openapi as oa

BILL_STATUSES = (*PaymentStatus, VOIDED)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
STATUS = oa.query("status", oa.string(enum=list(BILL_STATUSES)), description="only these bills")
LIMIT = oa.query(
    "limit", oa.integer(minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT), description="at most"
)


async def list_bills(request: Request) -> JSONResponse:
    """The store's bills, newest first. Query: status (PAID/PENDING/FAILED/VOIDED), limit
    (1-200, default 50). Each bill: its session, counter, amount in KRW, status, lines, history."""
    store_id = request.path_params["store_id"]
    status = request.query_params.get("status")
    if status is not None and status not in BILL_STATUSES:
        raise v.invalid("status", f"must be one of {', '.join(BILL_STATUSES)}")
    limit = v.query_int(request, LIMIT)
    await get_store_row(request, store_id)
    query = (
        sa.select(bills, tray_sessions.c.uuid, tray_sessions.c.counter_id)
        .join(tray_sessions, tray_sessions.c.id == bills.c.session_id)
        .where(tray_sessions.c.store_id == store_id)
        .order_by(bills.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(bills.c.payment_status == status)
    database = request.app.state.database
    async with database.connection() as conn:
        rows = (await conn.execute(query)).all()
        ids = [row.id for row in rows]
        lines: dict[int, list[Any]] = defaultdict(list)
        attempts: dict[int, list[Any]] = defaultdict(list)
        if ids:
            for line in await conn.execute(
                bill_lines.select().where(bill_lines.c.bill_id.in_(ids)).order_by(bill_lines.c.id)
            ):
                lines[line.bill_id].append(line)
            for attempt in await conn.execute(
                payment_attempts.select()
                .where(payment_attempts.c.bill_id.in_(ids))
                .order_by(payment_attempts.c.id)
            ):
                attempts[attempt.bill_id].append(attempt)
    return JSONResponse(
        {
            "bills": [
                {
                    **bill_body(row, lines[row.id], attempts[row.id]),
                    "session": row.uuid,
                    "counter_id": row.counter_id,
                    "store_id": store_id,
                }
                for row in rows
            ]
        }
    )


routes = apidoc.routes(
    api_route(
        "GET",
        "/api/v1/stores/{store_id:id}/bills",
        list_bills,
        params=[STATUS, LIMIT],
        ok={
            200: oa.Answer(
                "the store's bills, newest first, each with its session, lines and history",
                oa.obj(
                    {
                        "bills": oa.array(
                            {
                                "allOf": [
                                    oa.ref("Bill"),
                                    oa.obj(
                                        {
                                            "session": oa.string(),
                                            "counter_id": oa.string(),
                                            "store_id": oa.integer(),
                                        },
                                        required=["session", "counter_id", "store_id"],
                                    ),
                                ]
                            }
                        )
                    },
                    required=["bills"],
                ),
            )
        },
        errors={422: "status or limit breaks its rule (invalid_field)"},
    ),
)
