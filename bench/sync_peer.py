"""The benchmark's minimal SYNC peer: Central's three hot operations as a plain WSGI app.

SQLAlchemy Core + pymysql (the driver the runbook's `mysql+pymysql://` URL names), one pooled
engine, httpx's sync client for the AI, and Central's own tables, validation, JSON shapes and
answer parsing — so the comparison is the serving model (threads vs. one event loop), not the work.
Served by gunicorn (gthread). Settings come from the same env as Central's:

    DATABASE_URL=mysql+pymysql://… AI_BASE_URL=… ADMIN_KEY=… AI_ADMIN_KEY=… PEER_POOL_SIZE=16 \
        gunicorn -w 1 -k gthread --threads 16 'bench.sync_peer:create_app()'
"""

from __future__ import annotations

import hmac
import json
import os
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import httpx
import sqlalchemy as sa

from central import validation as v
from central.db import dumps, utcnow
from central.errors import ApiError, conflict, not_found
from central.frames import check_frames
from central.presentation import new_session_json, review_json, run_json, session_head
from central.states import INFERABLE
from central.stores import store_json
from central.tables import (
    products,
    recognition_items,
    recognition_runs,
    reviews,
    stores,
    tray_sessions,
)
from central.trays import check_store_open, new_session, parse_new_session
from contract.answer import ContractViolation, check_infer_answer

StartResponse = Callable[..., Any]
Json = dict[str, Any]


def create_app() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    pool_size = int(os.environ.get("PEER_POOL_SIZE", "16"))
    engine = sa.create_engine(
        os.environ["DATABASE_URL"], pool_size=pool_size, max_overflow=0, pool_recycle=1800
    )
    ai = httpx.Client(
        base_url=os.environ["AI_BASE_URL"],
        headers={"X-ADMIN-KEY": os.environ["AI_ADMIN_KEY"]},
        timeout=httpx.Timeout(10.0, connect=2.0),
        limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
    )
    admin_key = os.environ["ADMIN_KEY"].encode()
    session_re = "/api/v1/tray-sessions/"

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        try:
            if path == "/health":
                status, body = 200, {"status": "ok"}
            elif not hmac.compare_digest(environ.get("HTTP_X_ADMIN_KEY", "").encode(), admin_key):
                status, body = 401, {"error": "unauthorized", "message": "bad X-ADMIN-KEY"}
            elif method == "GET" and path == "/api/v1/stores":
                status, body = 200, list_stores(engine, environ)
            elif method == "POST" and path == "/api/v1/tray-sessions":
                status, body = 201, create_session(engine, _json(environ))
            elif method == "POST" and path.startswith(session_re) and path.endswith("/infer"):
                session_uuid = path[len(session_re) : -len("/infer")]
                status, body = 201, infer(engine, ai, session_uuid, _json(environ))
            else:
                status, body = 404, {"error": "not_found", "message": f"no route {method} {path}"}
        except ApiError as exc:
            status, body = exc.status_code, exc.body()
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        start_response(
            f"{status} {'OK' if status < 400 else 'Error'}",
            [("content-type", "application/json"), ("content-length", str(len(data)))],
        )
        return [data]

    return app


def _json(environ: dict[str, Any]) -> Json:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        data = json.loads(environ["wsgi.input"].read(length) or b"null")
    except ValueError:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return data


def list_stores(engine: sa.Engine, environ: dict[str, Any]) -> Json:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    limit = min(max(int(query.get("limit", ["50"])[0]), 1), 200)
    after = max(int(query.get("after", ["0"])[0]), 0)
    with engine.connect() as conn:
        rows = conn.execute(
            stores.select().where(stores.c.id > after).order_by(stores.c.id).limit(limit + 1)
        ).all()
    page = rows[:limit]
    return {
        "items": [store_json(row) for row in page],
        "next_after": page[-1].id if len(rows) > limit else None,
    }


def create_session(engine: sa.Engine, data: Json) -> Json:
    store_id, counter_id = parse_new_session(data)
    with engine.begin() as conn:
        store = conn.execute(stores.select().where(stores.c.id == store_id)).first()
        if store is None:
            raise not_found("store", store_id=store_id)
        check_store_open(store)
        values = new_session(store_id, counter_id)
        conn.execute(tray_sessions.insert().values(**values))
        return new_session_json(values)


def infer(engine: sa.Engine, ai: httpx.Client, session_uuid: str, data: Json) -> Json:
    v.only(data, {"frames_b64"})
    frames = check_frames(data, 4, 3 * 1024 * 1024)
    token = str(uuid.uuid4())
    # Claim the session for this request (committed), as Central does, before calling the AI.
    with engine.begin() as conn:
        session = _session_row(conn, session_uuid)
        candidates = [
            row.sku
            for row in conn.execute(
                sa.select(products.c.sku)
                .where(products.c.store_id == session.store_id, products.c.active == sa.true())
                .order_by(products.c.sku)
            )
        ]
        now = utcnow()
        claimed = conn.execute(
            tray_sessions.update()
            .where(tray_sessions.c.id == session.id, tray_sessions.c.status.in_(INFERABLE))
            .values(status="INFERRING", claim_token=token, claimed_at=now, updated_at=now)
        )
        if claimed.rowcount != 1:
            raise conflict("inference_in_progress", "another inference is running for this session")
    started = utcnow()
    response = ai.post(
        "/v1/infer", json={"frames_b64": frames, "candidate_skus": candidates, "top_k": 3}
    )
    latency_ms = int((utcnow() - started).total_seconds() * 1000)
    if response.status_code != 200:
        raise ApiError(502, "ai_unavailable", f"the AI answered {response.status_code}")
    answer = response.json()
    try:
        check_infer_answer(answer, candidates, len(frames))
    except ContractViolation as violation:
        raise ApiError(502, "ai_invalid", str(violation)) from None
    decision = answer["decision"]
    review_reason = None if decision == "AUTO" else decision
    with engine.begin() as conn:
        now = utcnow()
        locked = conn.execute(
            sa.select(tray_sessions.c.claim_token)
            .where(tray_sessions.c.id == session.id)
            .with_for_update()
        ).scalar()
        if locked != token:
            raise conflict("inference_superseded", "a newer inference took over this tray session")
        run = {
            "session_id": session.id,
            "frame_count": len(frames),
            "created_at": now,
            "decision": decision,
            "reason": answer["reason"] or decision.lower(),
            "ai_status": "OK",
            "ai_error": None,
            "model_version": answer["model_version"],
            "device": answer["device"],
            "ai_latency_ms": latency_ms,
        }
        inserted = conn.execute(recognition_runs.insert().values(**run)).inserted_primary_key
        assert inserted is not None
        run["id"] = inserted[0]
        items = [
            {k: item[k] for k in ("sku", "count", "confidence", "candidates", "boxes")}
            for item in answer["items"]
        ]
        if items:
            conn.execute(
                recognition_items.insert(),
                [
                    {
                        **item,
                        "run_id": run["id"],
                        "candidates": dumps(item["candidates"]),
                        "boxes": dumps(item["boxes"]),
                    }
                    for item in items
                ],
            )
        if session.status != "OPEN":
            conn.execute(
                reviews.update()
                .where(reviews.c.session_id == session.id, reviews.c.status == "OPEN")
                .values(status="SUPERSEDED")
            )
        review = None
        if review_reason is not None:
            review = {
                "session_id": session.id,
                "run_id": run["id"],
                "store_id": session.store_id,
                "reason": review_reason,
                "status": "OPEN",
                "created_at": now,
            }
            inserted = conn.execute(reviews.insert().values(**review)).inserted_primary_key
            assert inserted is not None
            review_id = inserted[0]
            review.update(id=review_id, final_items=None, resolved_by=None, resolved_at=None)
        status = "IN_REVIEW" if review_reason else "PAYABLE"
        conn.execute(
            tray_sessions.update()
            .where(tray_sessions.c.id == session.id)
            .values(status=status, claim_token=None, claimed_at=None, updated_at=now)
        )
    return {
        **session_head({**session._mapping, "status": status, "updated_at": now}),
        "run": run_json(run, items),
        "review": review_json(review) if review is not None else None,
    }


def _session_row(conn: sa.Connection, session_uuid: str) -> Any:
    row = conn.execute(tray_sessions.select().where(tray_sessions.c.uuid == session_uuid)).first()
    if row is None:
        raise not_found("tray session", session=session_uuid)
    return row
