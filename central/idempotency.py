"""`Idempotency-Key` for unsafe endpoints (IETF httpapi draft, Stripe's semantics).

- first request with a key: runs, and its 2xx answer is stored under (method + path, key) in the
  same transaction as the effect it answers for — a bill and the key that guards it commit
  together or not at all;
- a retry with the same key and the same body: the stored answer, nothing runs again;
- the same key with a different body: 422;
- a retry while the first is still running: 409 with Retry-After;
- a key whose request died with its instance (crash, restart, lost database) before the effect
  committed: after a lease of seconds a retry takes it over and runs the effect.
Answers other than 2xx are not stored (nothing was written), so the client may retry with the key.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from central.db import Database, IntegrityError, eventually, utcnow
from central.errors import ApiError
from central.tables import idempotency_keys as keys

log = logging.getLogger("central.idempotency")

HEADER = "idempotency-key"
IN_PROGRESS, DONE = "IN_PROGRESS", "DONE"
# Beyond the AI's whole deadline, the time a request may spend on the database. A key held
# longer belonged to a request that died; a slower live owner then loses at commit, safely.
LEASE_MARGIN_S = 3.0

Endpoint = Callable[[Request], Awaitable[Response]]


def lease_for(settings: Any) -> dt.timedelta:
    """How long a request may hold its key (and a session its inference claim)."""
    return dt.timedelta(seconds=settings.ai_timeout_s + LEASE_MARGIN_S)


@dataclass
class KeyClaim:
    """This request's hold on an Idempotency-Key."""

    scope: str
    key: str
    owner: str
    completed: bool = field(default=False)
    # The owner this request took the key over from: a request that died holding it.
    took_over_from: str | None = None

    async def complete(self, conn: AsyncConnection, response: JSONResponse) -> None:
        """Store the answer under the key, inside the effect's own transaction.

        Refuses (409, and the effect rolls back) when the key is no longer ours: this request
        outlived its lease and a retry took the key over.
        """
        result = await conn.execute(
            keys.update()
            .where(
                keys.c.scope == self.scope,
                keys.c.idem_key == self.key,
                keys.c.owner_token == self.owner,
                keys.c.state == IN_PROGRESS,
            )
            .values(
                state=DONE,
                response_status=response.status_code,
                response_body=bytes(response.body).decode(),
                updated_at=utcnow(),
            )
        )
        if result.rowcount != 1:
            raise ApiError(
                409,
                "idempotency_key_in_use",
                "a retry with this Idempotency-Key took over; retry to get its answer",
            )
        self.completed = True


async def answer(
    conn: AsyncConnection, request: Request, body: Any, status_code: int = 200
) -> JSONResponse:
    """The endpoint's JSON answer, recorded under its Idempotency-Key (if any) in `conn`'s
    transaction. Call it last inside the transaction that makes the effect."""
    response = JSONResponse(body, status_code=status_code)
    claim = key_claim(request)
    if claim is not None:
        await claim.complete(conn, response)
    return response


def key_claim(request: Request) -> KeyClaim | None:
    """The request's hold on its Idempotency-Key, if it sent one."""
    return getattr(request.state, "idempotency", None)


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
        lease = lease_for(request.app.state.settings)
        claim = KeyClaim(scope, key, str(uuid.uuid4()))
        replay = await _claim(database, claim, body_hash, lease)
        if replay is not None:
            return replay
        request.state.idempotency = claim
        try:
            response = await endpoint(request)
        except BaseException:
            await _release(database, claim, lease)
            raise
        if not 200 <= response.status_code < 300:
            await _release(database, claim, lease)
        elif not claim.completed:  # an endpoint that did not answer through `answer()`
            async with database.transaction() as conn:
                assert isinstance(response, JSONResponse)
                await claim.complete(conn, response)
        return response

    return wrapper


async def _claim(
    database: Database, claim: KeyClaim, body_hash: str, lease: dt.timedelta
) -> Response | None:
    """Hold the key for this request (None), or the answer a retry gets instead."""
    for _ in range(3):  # the row may vanish (released) between our insert and our read
        now = utcnow()
        try:
            await database.execute(
                keys.insert().values(
                    scope=claim.scope,
                    idem_key=claim.key,
                    request_hash=body_hash,
                    state=IN_PROGRESS,
                    owner_token=claim.owner,
                    created_at=now,
                    updated_at=now,
                )
            )
            return None
        except IntegrityError:
            pass
        row = await database.fetch_one(
            keys.select().where(keys.c.scope == claim.scope, keys.c.idem_key == claim.key)
        )
        if row is None:
            continue
        if row.request_hash != body_hash:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body",
            )
        if row.state == DONE:
            replayed = JSONResponse(json.loads(row.response_body), status_code=row.response_status)
            replayed.headers["Idempotent-Replayed"] = "true"
            return replayed
        expires = row.updated_at + lease
        if expires < now:
            # The holder died before its effect committed: take the key over. The conditional
            # UPDATE lets exactly one of several racing retries win.
            taken = await database.execute(
                keys.update()
                .where(
                    keys.c.id == row.id,
                    keys.c.owner_token == row.owner_token,
                    keys.c.state == IN_PROGRESS,
                )
                .values(owner_token=claim.owner, updated_at=now)
            )
            if taken == 1:
                claim.took_over_from = row.owner_token
                log.warning(
                    "took over an abandoned Idempotency-Key",
                    extra={"scope": claim.scope, "held_since": str(row.updated_at)},
                )
                return None
            continue
        wait_s = max(1, math.ceil((expires - now).total_seconds()))
        raise ApiError(
            409,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still in progress; retry after a moment",
            retry_after_s=wait_s,
        )
    raise ApiError(
        409,
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is in progress; retry",
        retry_after_s=1,
    )


async def _release(database: Database, claim: KeyClaim, lease: dt.timedelta) -> None:
    """Give the key back after a failure, unless its answer committed (then it stays DONE).

    With the database away this is retried in the background until it is back (or the lease,
    which frees the key anyway, runs out).
    """
    release = keys.delete().where(
        keys.c.scope == claim.scope,
        keys.c.idem_key == claim.key,
        keys.c.owner_token == claim.owner,
        keys.c.state == IN_PROGRESS,
    )
    await eventually(lambda: database.execute(release), lease.total_seconds())
