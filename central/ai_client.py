"""Central's client for the AI service (contract: docs/ai-contract.md).

Every way the call can go wrong ends as an `AiFailure` with a status Central stores on the run;
the caller never has to guess whether an answer is trustworthy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

DECISIONS = {"AUTO", "REVIEW", "UNKNOWN"}


class AiFailure(Exception):
    """status: UNREACHABLE, TIMEOUT, HTTP_5XX, HTTP_4XX or INVALID_RESPONSE."""

    def __init__(self, status: str, message: str, latency_ms: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.latency_ms = latency_ms


@dataclass(frozen=True)
class AiItem:
    sku: str | None
    count: int
    confidence: float
    candidates: list[dict[str, Any]] = field(default_factory=list)
    boxes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class AiAnswer:
    decision: str
    reason: str
    items: list[AiItem]
    model_version: str
    device: str
    latency_ms: int


class AiClient:
    def __init__(
        self,
        base_url: str,
        admin_key: str,
        timeout_s: float,
        connect_timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"X-ADMIN-KEY": admin_key},
            # The connect phase is short (a private IP answers at once or not at all); the read
            # phase covers the model's own time.
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=connect_timeout_s),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def recognize(
        self, frames_b64: list[str], candidate_skus: list[str], request_id: str | None = None
    ) -> AiAnswer:
        payload = {"frames_b64": frames_b64, "candidate_skus": candidate_skus, "top_k": 3}
        if request_id:
            payload["request_id"] = request_id
        started = time.perf_counter()

        def elapsed_ms() -> int:
            return int((time.perf_counter() - started) * 1000)

        response = None
        # One retry, on connection errors only: the request never reached the AI, so it is safe.
        for attempt in (1, 2):
            try:
                response = await self._client.post("/v1/infer", json=payload)
                break
            except httpx.ConnectError as exc:
                if attempt == 2:
                    raise AiFailure(
                        "UNREACHABLE", f"cannot connect to the AI service: {exc}", elapsed_ms()
                    ) from None
            except httpx.TimeoutException:
                raise AiFailure(
                    "TIMEOUT", "the AI service did not answer in time", elapsed_ms()
                ) from None
            except httpx.HTTPError as exc:
                raise AiFailure(
                    "UNREACHABLE", f"the AI call failed: {type(exc).__name__}", elapsed_ms()
                ) from None
        assert response is not None
        latency = elapsed_ms()
        if response.status_code >= 500:
            raise AiFailure("HTTP_5XX", f"the AI service answered {response.status_code}", latency)
        if response.status_code != 200:
            raise AiFailure(
                "HTTP_4XX", f"the AI service refused the call ({response.status_code})", latency
            )
        try:
            body = response.json()
        except ValueError:
            raise AiFailure("INVALID_RESPONSE", "the AI answer is not JSON", latency) from None
        try:
            return parse_answer(body, set(candidate_skus), latency)
        except (ValueError, TypeError, KeyError) as exc:
            raise AiFailure(
                "INVALID_RESPONSE", f"the AI answer breaks the contract: {exc}", latency
            ) from None


def parse_answer(body: Any, candidates: set[str], latency_ms: int) -> AiAnswer:
    if not isinstance(body, dict):
        raise ValueError("the answer is not an object")
    decision = body["decision"]
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    raw_items = body["items"]
    if not isinstance(raw_items, list):
        raise ValueError("items is not a list")
    items = []
    for index, raw in enumerate(raw_items):
        sku = raw["sku"]
        if sku is None:
            if decision == "AUTO":
                raise ValueError(f"item {index} has no SKU in an AUTO answer")
        elif sku not in candidates:
            raise ValueError(f"item {index} has SKU {str(sku)[:64]!r}, which is not a candidate")
        count = raw["count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"item {index} has an invalid count")
        confidence = raw["confidence"]
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise ValueError(f"item {index} has an invalid confidence")
        if not (0.0 <= float(confidence) <= 1.0) or math.isnan(confidence):
            raise ValueError(f"item {index} has a confidence outside [0, 1]")
        candidates_out = raw.get("candidates") or []
        boxes = raw.get("boxes") or []
        if not isinstance(candidates_out, list) or not isinstance(boxes, list):
            raise ValueError(f"item {index} has malformed candidates or boxes")
        items.append(AiItem(sku, count, float(confidence), candidates_out, boxes))
    return AiAnswer(
        decision=decision,
        reason=str(body.get("reason") or "")[:255],
        items=items,
        model_version=str(body.get("model_version") or "unknown")[:128],
        device=str(body.get("device") or "unknown")[:32],
        latency_ms=latency_ms,
    )
