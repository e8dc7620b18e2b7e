"""Staff reviews: the tray's payment waits until a person confirms what is on it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse

from central import apidoc
from central import validation as v
from central.ai_client import AIError
from central.apidoc import api_route
from central.db import Database, dumps, utcnow
from central.errors import ApiError, conflict, invalid, not_found
from central.idempotency import answer, idempotent
from central.inference import locked_session
from central.presentation import review_json
from central.references import ai_store_id
from central.states import ReviewStatus, SessionStatus
from central.stores import active_skus
from central.tables import reviews, tray_sessions
from contract import MAX_ITEM_COUNT
from servicekit import openapi as oa
from servicekit import routing as _routing  # noqa: F401  (the {name:id} path convertor)

log = logging.getLogger("central.reviews")

STATUSES = set(ReviewStatus.__members__)
MAX_LINES = 100
STORE_ID = oa.query("store_id", oa.integer(minimum=1, maximum=2**31 - 1))
STATUS = oa.query("status", oa.string(enum=sorted(STATUSES)), description="any case")
LIMIT = oa.query("limit", oa.integer(minimum=1, maximum=200, default=50))
AFTER = oa.query("after", oa.integer(minimum=0, maximum=2**31, default=0))
RESOLUTION = oa.obj(
    {
        "reviewer": v.text(128, description="who looked at the tray"),
        "items": oa.array(
            oa.obj(
                {
                    "sku": oa.string(
                        min_length=1,
                        pattern=oa.SINGLE_LINE,
                        description="an active SKU of the store",
                    ),
                    "count": oa.integer(minimum=1, maximum=MAX_ITEM_COUNT),
                },
                required=["sku", "count"],
                additional=False,
            ),
            min_items=1,
            max_items=MAX_LINES,
            description="what is really on the tray, each SKU once",
        ),
    },
    required=["reviewer", "items"],
    additional=False,
)


def _with_session_uuid() -> sa.Select[Any]:
    return sa.select(reviews, tray_sessions.c.uuid.label("session_uuid")).join(
        tray_sessions, tray_sessions.c.id == reviews.c.session_id
    )


async def review_row(database: Database, review_id: int) -> Any:
    row = await database.fetch_one(_with_session_uuid().where(reviews.c.id == review_id))
    if row is None:
        raise not_found("review", review_id=review_id)
    return row


async def list_reviews(request: Request) -> JSONResponse:
    """List reviews, oldest first. Query: store_id, status (OPEN/RESOLVED/…), limit, after."""
    query = _with_session_uuid().order_by(reviews.c.id)
    if STORE_ID.name in request.query_params:
        query = query.where(reviews.c.store_id == v.query_int(request, STORE_ID))
    status = request.query_params.get(STATUS.name)
    if status is not None:
        if status.upper() not in STATUSES:
            raise invalid("status", f"must be one of {', '.join(sorted(STATUSES))}")
        query = query.where(reviews.c.status == status.upper())
    limit, after = v.query_int(request, LIMIT), v.query_int(request, AFTER)
    rows = await request.app.state.database.fetch_all(
        query.where(reviews.c.id > after).limit(limit + 1)
    )
    page = rows[:limit]
    return JSONResponse(
        {
            "items": [review_json(row._mapping, row.session_uuid) for row in page],
            "next_after": page[-1].id if len(rows) > limit else None,
        }
    )


async def get_review(request: Request) -> JSONResponse:
    """Get one review."""
    row = await review_row(request.app.state.database, request.path_params["review_id"])
    return JSONResponse(review_json(row._mapping, row.session_uuid))


@idempotent
async def resolve_review(request: Request) -> JSONResponse:
    """Resolve a review with what is really on the tray. Body: reviewer, items [{sku, count}]."""
    database: Database = request.app.state.database
    review_id = request.path_params["review_id"]
    data = await v.json_object(request)
    v.only(data, set(RESOLUTION["properties"]))
    reviewer = v.value(data, "reviewer", RESOLUTION["properties"]["reviewer"], required=True)
    review = await review_row(database, review_id)
    items = parse_items(data.get("items"), set(await active_skus(database, review.store_id)))
    now = utcnow()
    async with database.transaction() as conn:
        # The session first, as every status change takes it: this orders the resolution
        # against a rescan or a checkout of the same tray.
        session = await locked_session(conn, review.session_uuid)
        current = (
            await conn.execute(sa.select(reviews.c.status).where(reviews.c.id == review_id))
        ).scalar()
        if current != ReviewStatus.OPEN:
            raise conflict("review_not_open", f"review {review_id} is {current}", status=current)
        await conn.execute(
            reviews.update()
            .where(reviews.c.id == review_id)
            .values(
                status=ReviewStatus.RESOLVED,
                final_items=dumps(items),
                resolved_by=reviewer,
                resolution_token=str(uuid.uuid4()),
                resolved_at=now,
            )
        )
        # Only the session's current review can make it payable; a newer scan supersedes this one.
        session_status = session.status
        if session_status == SessionStatus.IN_REVIEW:
            session_status = SessionStatus.PAYABLE
            await conn.execute(
                tray_sessions.update()
                .where(tray_sessions.c.id == session.id)
                .values(status=session_status, updated_at=now)
            )
        row = (await conn.execute(_with_session_uuid().where(reviews.c.id == review_id))).one()
        body = {**review_json(row._mapping, row.session_uuid), "session_status": session_status}
        response = await answer(conn, request, body)
    # After the answer, and never in its way: the AI adds the tray's crops under the true SKUs.
    response.background = BackgroundTask(
        teach_ai, request.app, row.session_uuid, items, review.store_id
    )
    return response


async def teach_ai(
    app: Any, session_uuid: str, items: list[dict[str, Any]], store_id: int | None = None
) -> None:
    """Send a resolved review's items to the AI (into the store's gallery); a failure is logged,
    the resolution stands."""
    store = ai_store_id(store_id) if store_id is not None else None
    try:
        result = await app.state.ai.feedback(session_uuid, items, store)
    except AIError as error:
        log.warning(
            "the AI did not learn from a review",
            extra={"session": session_uuid, "ai_error": str(error)},
        )
        return
    log.info("the AI learned from a review", extra={"session": session_uuid, "ai_result": result})


def parse_items(raw: Any, known_skus: set[str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise invalid("items", "must be a non-empty list of {sku, count}")
    if len(raw) > MAX_LINES:
        raise invalid("items", f"at most {MAX_LINES} lines")
    seen: set[str] = set()
    items = []
    for index, item in enumerate(raw):
        field = f"items[{index}]"
        if not isinstance(item, dict) or set(item) - {"sku", "count"}:
            raise invalid(field, "must be an object with sku and count")
        sku = item.get("sku")
        count = item.get("count")
        if not isinstance(sku, str) or not sku:
            raise invalid(f"{field}.sku", "is required")
        if sku not in known_skus:
            raise ApiError(
                422,
                "unknown_sku",
                f"{field}.sku: {sku[:64]!r} is not an active product of this store",
                field=f"{field}.sku",
                sku=sku[:64],
            )
        if sku in seen:
            raise invalid(f"{field}.sku", f"{sku!r} is listed twice")
        if (
            isinstance(count, bool)
            or not isinstance(count, int)
            or not 1 <= count <= MAX_ITEM_COUNT
        ):
            raise invalid(f"{field}.count", f"must be an integer from 1 to {MAX_ITEM_COUNT}")
        seen.add(sku)
        items.append({"sku": sku, "count": count})
    return items


REVIEW = oa.Answer("the review", oa.ref("Review"))
routes = apidoc.routes(
    api_route(
        "GET",
        "/api/v1/reviews",
        list_reviews,
        params=[STORE_ID, STATUS, LIMIT, AFTER],
        ok={
            200: oa.Answer(
                "a page of reviews; next_after is the `after` of the next page, or null",
                oa.obj(
                    {"items": oa.array(oa.ref("Review")), "next_after": oa.integer(nullable=True)},
                    required=["items", "next_after"],
                ),
            )
        },
    ),
    api_route("GET", "/api/v1/reviews/{review_id:id}", get_review, ok={200: REVIEW}),
    api_route(
        "POST",
        "/api/v1/reviews/{review_id:id}/resolve",
        resolve_review,
        body=RESOLUTION,
        ok={
            200: oa.Answer(
                "the resolved review, and the session's status now",
                {
                    "allOf": [
                        oa.ref("Review"),
                        oa.obj({"session_status": oa.string()}, required=["session_status"]),
                    ]
                },
            )
        },
        errors={
            409: "the review is not open (review_not_open)",
            422: "an item's SKU is not an active product of the store (unknown_sku)",
        },
        idempotent=True,
    ),
)
