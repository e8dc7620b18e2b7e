"""`nox -s seed`: the demo store, its products and their reference photos in the deployed Central.

After the first deploy the AI's gallery is empty, so every tray would go to staff. This creates the
catalog's store and products (fixtures/catalog.json) and registers each product's reference
photos through Central, which forwards them to the AI, exactly as staff would: no retraining.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ops.verify import Target

CATALOG = Path(__file__).resolve().parent.parent / "fixtures" / "catalog.json"


def run_seed(target: Target, say: Callable[[str], None] = print, catalog: Path = CATALOG) -> int:
    from demo.counter import CentralError, Counter
    from demo.trays import REFERENCE_PHOTOS, reference_photos

    skus = [p["sku"] for p in json.loads(catalog.read_text(encoding="utf-8"))["products"]]
    counter = Counter(target.url, target.admin_key)
    try:
        store = counter.seed(catalog)
        say(f"seed: store {store['code']} (id {store['id']}) and its {len(skus)} products created")
        for sku in skus:
            counter.register_photos(int(store["id"]), sku, reference_photos(sku))
            say(f"seed: {sku}: {REFERENCE_PHOTOS} reference photos registered")
    except CentralError as error:
        say(f"seed: FAILED: {error}")
        if "409" in str(error):
            say("seed: the store exists already: register photos per product in its staff screen")
        return 1
    finally:
        counter.close()
    say(f"seed: done; trays at store id {store['id']} are now recognized")
    return 0
