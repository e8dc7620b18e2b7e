"""Billing a tray: exactly the latest payable scan, or the staff's resolution of its review.

Everything a bill is made of — the session's status, its latest run, that run's review and the
prices — is read inside the billing transaction, after locking the session row. A rescan or a
resolution of the same tray waits for that lock, so a checkout racing a rescan bills either the
scan it saw as payable or nothing (409), never an older scan's items.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from central.db import IntegrityError, loads, utcnow
from central.errors import conflict
from central.inference import locked_session
from central.states import AIStatus, BillSource, Decision, ReviewStatus, SessionStatus
from central.tables import (
    bill_lines,
    bills,
    products,
    recognition_items,
    recognition_runs,
    reviews,
    tray_sessions,
)


async def bill_session(
    conn: AsyncConnection, session_uuid: str, payment_status: str, reference: str | None
) -> Any:
    """Bill the session from server-side prices inside `conn`'s transaction; return its new row."""
    session = await locked_session(conn, session_uuid)
    if session.status == SessionStatus.CHECKED_OUT:
        raise conflict("already_checked_out", "this tray session already has a bill")
    if session.status != SessionStatus.PAYABLE:
        open_review = (
            await conn.execute(
                sa.select(reviews.c.id).where(
                    reviews.c.session_id == session.id, reviews.c.status == ReviewStatus.OPEN
                )
            )
        ).scalar()
        raise conflict(
            "not_payable",
            "the tray is not payable: it needs an AUTO recognition or a resolved review",
            status=session.status,
            open_review_id=open_review,
        )
    counts, source = await payable_items(conn, session)
    if not counts:
        raise conflict("nothing_to_bill", "the recognized tray holds no products")
    priced = {
        row.sku: row
        for row in await conn.execute(
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
    try:  # the unique session_id is the last line of defence
        bill_id = (
            await conn.execute(
                bills.insert().values(
                    session_id=session.id,
                    total_krw=sum(line["line_total_krw"] for line in lines),
                    source=source,
                    payment_status=payment_status,
                    payment_reference=reference,
                    created_at=now,
                )
            )
        ).lastrowid
    except IntegrityError:
        raise conflict("already_checked_out", "this tray session already has a bill") from None
    await conn.execute(bill_lines.insert().values([{"bill_id": bill_id, **line} for line in lines]))
    await conn.execute(
        tray_sessions.update()
        .where(tray_sessions.c.id == session.id)
        .values(status=SessionStatus.CHECKED_OUT, updated_at=now)
    )
    return (
        await conn.execute(tray_sessions.select().where(tray_sessions.c.id == session.id))
    ).first()


async def payable_items(conn: AsyncConnection, session: Any) -> tuple[Counter[str], BillSource]:
    """What the customer pays for: the latest run's items if it is a clean AUTO, or the staff's
    resolution of that run's review."""
    run = (
        await conn.execute(
            recognition_runs.select()
            .where(recognition_runs.c.session_id == session.id)
            .order_by(recognition_runs.c.id.desc())
            .limit(1)
        )
    ).first()
    if run is None:
        raise conflict("not_payable", "the tray has not been recognized")
    review = (await conn.execute(reviews.select().where(reviews.c.run_id == run.id))).first()
    counts: Counter[str] = Counter()
    if review is not None:
        if review.status != ReviewStatus.RESOLVED:
            raise conflict("not_payable", "the tray's review is not resolved", review_id=review.id)
        for item in loads(review.final_items):
            counts[item["sku"]] += item["count"]
        return counts, BillSource.REVIEW
    if run.decision != Decision.AUTO or run.ai_status != AIStatus.OK:
        raise conflict("not_payable", "the latest recognition is not an AUTO decision")
    for item in await conn.execute(
        recognition_items.select().where(recognition_items.c.run_id == run.id)
    ):
        counts[item.sku] += item._mapping["count"]
    return counts, BillSource.AUTO
