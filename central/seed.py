"""Seed a store and its products from a catalog file (fixtures/catalog.json by default)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from central.db import Database, execute, utcnow
from central.tables import products, stores

DEFAULT_CATALOG = Path(__file__).resolve().parent.parent / "fixtures" / "catalog.json"


async def seed(database: Database, catalog_path: Path = DEFAULT_CATALOG) -> dict[str, Any]:
    """Insert the catalog's store and products, leaving existing rows alone (re-runnable)."""
    catalog = json.loads(catalog_path.read_text(encoding="utf-8"))  # noqa: ASYNC240 - once, at seed time
    store = catalog["store"]
    now = utcnow()
    async with database.transaction() as conn:
        store_id = (
            await conn.execute(sa.select(stores.c.id).where(stores.c.code == store["code"]))
        ).scalar()
        if store_id is None:
            store_id = await execute(
                conn,
                stores.insert().values(
                    code=store["code"],
                    name=store["name"],
                    timezone=store["timezone"],
                    active=True,
                    created_at=now,
                    updated_at=now,
                ),
            )
        existing = {
            row.sku
            for row in await conn.execute(
                sa.select(products.c.sku).where(products.c.store_id == store_id)
            )
        }
        new = [p for p in catalog["products"] if p["sku"] not in existing]
        if new:
            await conn.execute(
                products.insert(),
                [
                    {
                        "store_id": store_id,
                        "sku": p["sku"],
                        "name": p["name"],
                        "unit_price_krw": p["unit_price_krw"],
                        "active": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for p in new
                ],
            )
    return {"store_id": store_id, "store_code": store["code"], "products_added": len(new)}
