"""Stores and their products. The SKU is the label the AI answers with."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from central import apidoc
from central import validation as v
from central.apidoc import api_route
from central.db import IntegrityError, iso, utcnow
from central.errors import conflict, not_found
from central.tables import products, stores
from servicekit import openapi as oa
from servicekit import routing as _routing  # noqa: F401  (the {name:id} path convertor)

MAX_PRICE_KRW = 10_000_000

_TIMESTAMP = oa.string(format="date-time")
apidoc.schemas.update(
    Store=oa.obj(
        {
            "id": oa.integer(),
            "code": oa.string(),
            "name": oa.string(),
            "timezone": oa.string(),
            "active": oa.boolean(),
            "created_at": _TIMESTAMP,
            "updated_at": _TIMESTAMP,
        },
        required=["id", "code", "name", "timezone", "active", "created_at", "updated_at"],
    ),
    Product=oa.obj(
        {
            "store_id": oa.integer(),
            "sku": oa.string(),
            "name": oa.string(),
            "unit_price_krw": oa.integer(),
            "active": oa.boolean(),
            "created_at": _TIMESTAMP,
            "updated_at": _TIMESTAMP,
        },
        required=["store_id", "sku", "name", "unit_price_krw", "active"],
    ),
)


def _store_body(*, creating: bool) -> oa.Schema:
    return oa.obj(
        {
            "code": v.text(32, v.CODE_RE),
            "name": v.text(200),
            "timezone": v.text(
                64,
                format=v.TIME_ZONE,
                default="Asia/Seoul" if creating else None,
                description="an IANA time zone",
            ),
            "active": oa.boolean(default=True if creating else None),
        },
        required=["code", "name"] if creating else [],
        additional=False,
    )


def _product_body(*, creating: bool) -> oa.Schema:
    fields = {
        "sku": v.text(64, v.SKU_RE),
        "name": v.text(200),
        "unit_price_krw": oa.integer(minimum=0, maximum=MAX_PRICE_KRW, description="KRW"),
        "active": oa.boolean(default=True if creating else None),
    }
    if not creating:
        del fields["sku"]  # the SKU is the product's name at the AI: it never changes
    required = ["sku", "name", "unit_price_krw"] if creating else []
    return oa.obj(fields, required=required, additional=False)


NEW_STORE, STORE_CHANGES = _store_body(creating=True), _store_body(creating=False)
NEW_PRODUCT, PRODUCT_CHANGES = _product_body(creating=True), _product_body(creating=False)
LIMIT = oa.query("limit", oa.integer(minimum=1, maximum=200, default=50), description="page size")
AFTER = oa.query(
    "after",
    oa.integer(minimum=0, maximum=2**31, default=0),
    description="the last id of the previous page",
)
ACTIVE = oa.query("active", oa.string(enum=["true", "false"]), description="filter by active")


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
    now = utcnow()
    values = {
        **v.fields(await v.json_object(request), NEW_STORE),
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
    limit, after = v.query_int(request, LIMIT), v.query_int(request, AFTER)
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
    changes = {
        key: value
        for key, value in v.fields(await v.json_object(request), STORE_CHANGES).items()
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
    now = utcnow()
    values = {
        "store_id": store_id,
        **v.fields(await v.json_object(request), NEW_PRODUCT),
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
    active = request.query_params.get(ACTIVE.name)
    if active is not None:
        if active not in ACTIVE.schema["enum"]:
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
    changes = {
        key: value
        for key, value in v.fields(await v.json_object(request), PRODUCT_CHANGES).items()
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


STORE = oa.Answer("the store", oa.ref("Store"))
PRODUCT = oa.Answer("the product", oa.ref("Product"))
NEW_STORE_ANSWER = oa.Answer(
    "the new store",
    oa.ref("Store"),
    links={
        **{
            name: oa.link(name, store_id="/id")
            for name in ("get_store", "update_store", "create_product", "list_products")
        },
        "create_session": oa.link(
            "create_session", {"store_id": "$response.body#/id", "counter_id": "counter-1"}
        ),
    },
)
NEW_PRODUCT_ANSWER = oa.Answer(
    "the new product",
    oa.ref("Product"),
    links={
        name: oa.link(name, store_id="/store_id", sku="/sku")
        for name in ("get_product", "update_product", "list_photos")
    },
)
STORES = "/api/v1/stores"
STORE_PATH = "/api/v1/stores/{store_id:id}"
PRODUCT_PATH = STORE_PATH + "/products/{sku}"
routes = apidoc.routes(
    api_route(
        "POST",
        STORES,
        create_store,
        body=NEW_STORE,
        ok={201: NEW_STORE_ANSWER},
        errors={409: "a store with this code exists (store_code_taken)"},
    ),
    api_route(
        "GET",
        STORES,
        list_stores,
        params=[LIMIT, AFTER],
        ok={
            200: oa.Answer(
                "a page of stores; next_after is the `after` of the next page, or null",
                oa.obj(
                    {"items": oa.array(oa.ref("Store")), "next_after": oa.integer(nullable=True)},
                    required=["items", "next_after"],
                ),
            )
        },
    ),
    api_route("GET", STORE_PATH, get_store, ok={200: STORE}),
    api_route(
        "PATCH",
        STORE_PATH,
        update_store,
        body=STORE_CHANGES,
        ok={200: STORE},
        errors={409: "a store with this code exists (store_code_taken)"},
    ),
    api_route(
        "POST",
        STORE_PATH + "/products",
        create_product,
        body=NEW_PRODUCT,
        ok={201: NEW_PRODUCT_ANSWER},
        errors={409: "the store already has this SKU (sku_taken)"},
    ),
    api_route(
        "GET",
        STORE_PATH + "/products",
        list_products,
        params=[ACTIVE],
        ok={
            200: oa.Answer(
                "the store's products by SKU",
                oa.obj({"items": oa.array(oa.ref("Product"))}, required=["items"]),
            )
        },
    ),
    api_route("GET", PRODUCT_PATH, get_product, ok={200: PRODUCT}),
    api_route("PATCH", PRODUCT_PATH, update_product, body=PRODUCT_CHANGES, ok={200: PRODUCT}),
)
