"""`Idempotency-Key` for unsafe endpoints (IETF httpapi draft, Stripe's semantics).

- first request with a key: runs, and a 2xx answer is stored under (method + path, key);
- a retry with the same key and the same body: the stored answer, nothing runs again;
- the same key with a different body: 422;
- a retry while the first is still running: 409.
Answers other than 2xx are not stored (nothing was written), so the client may retry with the key.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from central.db import is_duplicate, utcnow
from central.errors import ApiError
from central.tables import idempotency_keys as keys

HEADER = "idempotency-key"
# A key stuck IN_PROGRESS this long belonged to an instance that died mid-request.
ABANDONED_AFTER = dt.timedelta(minutes=5)

Endpoint = Callable[[Request], Awaitable[Response]]


def idempotent(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return await endpoint(request)
        key = key.strip()
        if not key or len(key) > 191:
            raise ApiError(
                400, "invalid_idempotency_key", "Idempotency-Key must be 1-191 characters"
            )
        database: Database = request.app.state.database
        scope = f"{request.method} {request.url.path}"[:191]
        body_hash = hashlib.sha256(await request.body()).hexdigest()
        owner = str(uuid.uuid4())
        replay = await _claim(database, scope, key, body_hash, owner)
        if replay is not None:
            return replay
        try:
            response = await endpoint(request)
        except BaseException:
            await _release(database, scope, key, owner)
            raise
        if 200 <= response.status_code < 300:
            await database.execute(
                keys.update()
                .where(keys.c.scope == scope, keys.c.idem_key == key, keys.c.owner_token == owner)
                .values(
                    state="DONE",
                    response_status=response.status_code,
                    response_body=bytes(response.body).decode(),
                    updated_at=utcnow(),
                )
            )
        else:
            await _release(database, scope, key, owner)
        return response

    return wrapper


async def _claim(
    database: Database, scope: str, key: str, body_hash: str, owner: str
) -> Response | None:
    now = utcnow()
    try:
        await database.execute(
            keys.insert().values(
                scope=scope,
                idem_key=key,
                request_hash=body_hash,
                state="IN_PROGRESS",
                owner_token=owner,
                created_at=now,
                updated_at=now,
            )
        )
        return None
    except Exception as exc:
        if not is_duplicate(exc):
            raise
    row = await database.fetch_one(
        keys.select().where(keys.c.scope == scope, keys.c.idem_key == key)
    )
    if row is None:  # released between our insert and this read: the caller may simply retry
        raise ApiError(
            409,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is in progress; retry",
        )
    if row.request_hash != body_hash:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
        )
    if row.state == "DONE":
        replayed = JSONResponse(json.loads(row.response_body), status_code=row.response_status)
        replayed.headers["Idempotent-Replayed"] = "true"
        return replayed
    if row.updated_at < now - ABANDONED_AFTER:
        # Take over the abandoned key; the token read-back tells who won if two retries race.
        await database.execute(
            keys.update()
            .where(keys.c.id == row.id, keys.c.owner_token == row.owner_token)
            .values(owner_token=owner, updated_at=now)
        )
        if (
            await database.fetch_val(sa.select(keys.c.owner_token).where(keys.c.id == row.id))
            == owner
        ):
            return None
    raise ApiError(
        409, "idempotency_key_in_use", "a request with this Idempotency-Key is still in progress"
    )


async def _release(database: Database, scope: str, key: str, owner: str) -> None:
    await database.execute(
        keys.delete().where(
            keys.c.scope == scope, keys.c.idem_key == key, keys.c.owner_token == owner
        )
    )
