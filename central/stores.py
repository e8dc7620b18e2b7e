"""Stores and their products. The SKU is the label the AI answers with."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from central import validation as v
from central.db import IntegrityError, iso, utcnow
from central.errors import conflict, not_found
from central.tables import products, stores
from servicekit import routing as _routing  # noqa: F401  (the {name:id} path convertor)

MAX_PRICE_KRW = 10_000_000


def store_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "code": row.code,
        "name": row.name,
        "timezone": row.timezone,
        "active": bool(row.active),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def product_json(row: Any) -> dict[str, Any]:
    return {
        "store_id": row.store_id,
        "sku": row.sku,
        "name": row.name,
        "unit_price_krw": row.unit_price_krw,
        "active": bool(row.active),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


async def get_store_row(request: Request, store_id: int) -> Any:
    row = await request.app.state.database.fetch_one(stores.select().where(stores.c.id == store_id))
    if row is None:
        raise not_found("store", store_id=store_id)
    return row


async def create_store(request: Request) -> JSONResponse:
    """Create a store. Body: code, name, timezone (IANA, default Asia/Seoul), active."""
    data = await v.json_object(request)
    v.only(data, {"code", "name", "timezone", "active"})
    now = utcnow()
    values = {
        "code": v.string(data, "code", max_len=32, pattern=v.CODE_RE),
        "name": v.string(data, "name", max_len=200),
        "timezone": v.timezone(data, "timezone", default="Asia/Seoul"),
        "active": v.boolean(data, "active", default=True),
        "created_at": now,
        "updated_at": now,
    }
    database = request.app.state.database
    try:
        store_id = await database.execute(stores.insert().values(**values))
    except IntegrityError:
        raise conflict("store_code_taken", f"a store with code {values['code']!r} exists") from None
    return JSONResponse(store_json(await get_store_row(request, store_id)), status_code=201)


async def list_stores(request: Request) -> JSONResponse:
    """List stores by id. Query: limit (1-200, default 50), after (last id of the previous page)."""
    limit = v.query_int(request, "limit", default=50, minimum=1, maximum=200)
    after = v.query_int(request, "after", default=0, minimum=0, maximum=2**31)
    rows = await request.app.state.database.fetch_all(
        stores.select().where(stores.c.id > after).order_by(stores.c.id).limit(limit + 1)
    )
    page = rows[:limit]
    return JSONResponse(
        {
            "items": [store_json(row) for row in page],
            "next_after": page[-1].id if len(rows) > limit else None,
        }
    )


async def get_store(request: Request) -> JSONResponse:
    """Get one store."""
    return JSONResponse(store_json(await get_store_row(request, request.path_params["store_id"])))


async def update_store(request: Request) -> JSONResponse:
    """Change a store's code, name, timezone or active flag."""
    store_id = request.path_params["store_id"]
    data = await v.json_object(request)
    v.only(data, {"code", "name", "timezone", "active"})
    changes = {
        key: value
        for key, value in {
            "code": v.string(data, "code", max_len=32, pattern=v.CODE_RE, required=False),
            "name": v.string(data, "name", max_len=200, required=False),
            "timezone": v.timezone(data, "timezone", default=None),
            "active": v.boolean(data, "active", default=None),
        }.items()
        if value is not None
    }
    await get_store_row(request, store_id)
    if changes:
        try:
            await request.app.state.database.execute(
                stores.update()
                .where(stores.c.id == store_id)
                .values(**changes, updated_at=utcnow())
            )
        except IntegrityError:
            raise conflict(
                "store_code_taken", f"a store with code {changes['code']!r} exists"
            ) from None
    return JSONResponse(store_json(await get_store_row(request, store_id)))


async def get_product_row(request: Request, store_id: int, sku: str) -> Any:
    row = await request.app.state.database.fetch_one(
        products.select().where(products.c.store_id == store_id, products.c.sku == sku)
    )
    if row is None:
        raise not_found("product", store_id=store_id, sku=sku)
    return row


async def create_product(request: Request) -> JSONResponse:
    """Add a product to a store. Body: sku, name, unit_price_krw (integer KRW), active."""
    store_id = request.path_params["store_id"]
    data = await v.json_object(request)
    v.only(data, {"sku", "name", "unit_price_krw", "active"})
    now = utcnow()
    values = {
        "store_id": store_id,
        "sku": v.string(data, "sku", max_len=64, pattern=v.SKU_RE),
        "name": v.string(data, "name", max_len=200),
        "unit_price_krw": v.integer(data, "unit_price_krw", minimum=0, maximum=MAX_PRICE_KRW),
        "active": v.boolean(data, "active", default=True),
        "created_at": now,
        "updated_at": now,
    }
    await get_store_row(request, store_id)
    try:
        await request.app.state.database.execute(products.insert().values(**values))
    except IntegrityError:
        raise conflict("sku_taken", f"store {store_id} already has SKU {values['sku']!r}") from None
    return JSONResponse(
        product_json(await get_product_row(request, store_id, values["sku"])), status_code=201
    )


async def list_products(request: Request) -> JSONResponse:
    """List a store's products by SKU. Query: active (true/false) to filter."""
    store_id = request.path_params["store_id"]
    await get_store_row(request, store_id)
    query = products.select().where(products.c.store_id == store_id).order_by(products.c.sku)
    active = request.query_params.get("active")
    if active is not None:
        if active not in {"true", "false"}:
            raise v.invalid("active", "must be true or false")
        query = query.where(products.c.active == (active == "true"))
    rows = await request.app.state.database.fetch_all(query)
    return JSONResponse({"items": [product_json(row) for row in rows]})


async def get_product(request: Request) -> JSONResponse:
    """Get one product by SKU."""
    p = request.path_params
    return JSONResponse(product_json(await get_product_row(request, p["store_id"], p["sku"])))


async def update_product(request: Request) -> JSONResponse:
    """Change a product's name, price or active flag."""
    p = request.path_params
    data = await v.json_object(request)
    v.only(data, {"name", "unit_price_krw", "active"})
    changes = {
        key: value
        for key, value in {
            "name": v.string(data, "name", max_len=200, required=False),
            "unit_price_krw": v.integer(
                data, "unit_price_krw", minimum=0, maximum=MAX_PRICE_KRW, default=None
            ),
            "active": v.boolean(data, "active", default=None),
        }.items()
        if value is not None
    }
    await get_product_row(request, p["store_id"], p["sku"])
    if changes:
        await request.app.state.database.execute(
            products.update()
            .where(products.c.store_id == p["store_id"], products.c.sku == p["sku"])
            .values(**changes, updated_at=utcnow())
        )
    return JSONResponse(product_json(await get_product_row(request, p["store_id"], p["sku"])))


async def active_skus(database: Any, store_id: int) -> list[str]:
    rows = await database.fetch_all(
        sa.select(products.c.sku)
        .where(products.c.store_id == store_id, products.c.active == sa.true())
        .order_by(products.c.sku)
    )
    return [row.sku for row in rows]


routes = [
    Route("/api/v1/stores", create_store, methods=["POST"]),
    Route("/api/v1/stores", list_stores, methods=["GET"]),
    Route("/api/v1/stores/{store_id:id}", get_store, methods=["GET"]),
    Route("/api/v1/stores/{store_id:id}", update_store, methods=["PATCH"]),
    Route("/api/v1/stores/{store_id:id}/products", create_product, methods=["POST"]),
    Route("/api/v1/stores/{store_id:id}/products", list_products, methods=["GET"]),
    Route("/api/v1/stores/{store_id:id}/products/{sku}", get_product, methods=["GET"]),
    Route("/api/v1/stores/{store_id:id}/products/{sku}", update_product, methods=["PATCH"]),
]
