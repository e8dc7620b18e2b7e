"""What a checkout counter and the staff screen send Central: the runbook's §11 calls, over HTTP."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx


class CentralError(RuntimeError):
    pass


class Counter:
    def __init__(self, central_url: str, admin_key: str, counter_id: str = "counter-1") -> None:
        self.http = httpx.Client(
            base_url=central_url, headers={"X-ADMIN-KEY": admin_key}, timeout=30
        )
        self.counter_id = counter_id

    def close(self) -> None:
        self.http.close()

    def _call(
        self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kwargs: Any
    ) -> Any:
        r = self.http.request(method, path, **kwargs)
        if r.status_code not in expect:
            raise CentralError(f"{method} {path} answered {r.status_code}: {r.text[:300]}")
        return r.json()

    def seed(self, catalog_path: Path, **store_fields: str) -> dict[str, Any]:
        """Create the catalog's store (`store_fields` override its code, name…) and products
        through the API, as an operator would."""
        catalog = json.loads(catalog_path.read_text(encoding="utf-8"))
        store = self._call("POST", "/api/v1/stores", json={**catalog["store"], **store_fields})
        for product in catalog["products"]:
            self._call("POST", f"/api/v1/stores/{store['id']}/products", json=product)
        return dict(store)

    def register_photos(self, store_id: int, sku: str, photos_b64: list[str]) -> dict[str, Any]:
        return dict(
            self._call(
                "POST",
                f"/api/v1/stores/{store_id}/products/{sku}/photos",
                json={"photos_b64": photos_b64},
            )
        )

    def seed_gallery(self, store_id: int, from_store_id: int) -> dict[str, Any]:
        """Copy another store's reference photos into the store's gallery at the AI."""
        return dict(
            self._call(
                "POST",
                f"/api/v1/stores/{store_id}/gallery/seed",
                json={"from_store_id": from_store_id},
            )
        )

    def open_session(self, store_id: int) -> str:
        body = self._call(
            "POST",
            "/api/v1/tray-sessions",
            json={"store_id": store_id, "counter_id": self.counter_id},
        )
        return str(body["uuid"])

    def infer(self, session: str, frames_b64: list[str]) -> dict[str, Any]:
        # One key per scan: if the network drops the answer, the retry cannot scan twice.
        key = f"{session}-scan-{uuid.uuid4().hex[:8]}"
        return dict(
            self._call(
                "POST",
                f"/api/v1/tray-sessions/{session}/infer",
                json={"frames_b64": frames_b64},
                headers={"Idempotency-Key": key},
            )
        )

    def checkout(self, session: str, reference: str) -> dict[str, Any]:
        return dict(
            self._call(
                "POST",
                f"/api/v1/tray-sessions/{session}/checkout",
                json={"payment_status": "PAID", "payment_reference": reference},
                headers={"Idempotency-Key": f"{session}-checkout"},
                expect=(201, 409),
            )
        )

    def open_reviews(self, store_id: int) -> list[dict[str, Any]]:
        return list(
            self._call("GET", "/api/v1/reviews", params={"store_id": store_id, "status": "OPEN"})[
                "items"
            ]
        )

    def resolve(self, review_id: int, reviewer: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(
            self._call(
                "POST",
                f"/api/v1/reviews/{review_id}/resolve",
                json={"reviewer": reviewer, "items": items},
                headers={"Idempotency-Key": f"review-{review_id}"},
            )
        )

    def session(self, session: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/tray-sessions/{session}"))
