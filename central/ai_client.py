"""The async client Central uses to ask the AI service about a tray.

Imports httpx and the standard library only, so Central's image needs neither torch nor Pillow.
Every failure is one typed error; Central turns any of them into a staff review (AI_UNAVAILABLE).
Only a refused or failed connection is retried, once: the request never reached the service, so
sending it again cannot double anything. A timeout or an HTTP error is never retried — the tray
waits for staff instead of for a second slow answer.

Every call has a total deadline (`Timeouts.total`), the whole answer included: httpx's own
timeouts are per phase and per socket read, so an answer dripping in slowly would never trip them.

`call_headers` adds headers to every call when it is made: Central passes the request id and
trace of the request being answered, so the AI's log lines join Central's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from contract.answer import ContractViolation, check_infer_answer


class AIError(Exception):
    """The AI service gave no usable answer."""


class AIUnreachable(AIError):
    """No connection to the service (refused, reset, DNS), even after the one retry."""


class AITimeout(AIError):
    """A phase (connect, read, write, pool) or the whole call (total) took longer than allowed."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase


class AIHTTPError(AIError):
    """The service answered with a status other than 200."""

    def __init__(
        self,
        status_code: int,
        error: str | None,
        message: str,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error  # the service's error code ("frame_too_large"), when it sent one
        self.body = dict(body or {})  # the service's JSON error body, when it sent one


class AIInvalidAnswer(AIError):
    """A 200 whose body is not the contract's answer (not JSON, unknown SKU, bad confidence…)."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `total` bounds the whole call (waiting for a pooled connection, connecting,
    sending, the model's time and reading the answer); the phases fail faster where they can.
    """

    total: float = 10.0
    connect: float = 1.0
    pool: float = 10.0  # waiting for a free connection: a busy instance, not a dead service

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect, read=self.total, write=self.total, pool=self.pool
        )


# Cloud Run sends an instance up to 80 concurrent requests by default (1000 at most); each
# waiting tray holds one AI connection, so the pool must not be what makes trays wait.
MAX_CONNECTIONS = 256


_PHASES = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


class AIClient:
    """`async with AIClient(url, key) as ai: answer = await ai.infer(frames, skus)`."""

    def __init__(
        self,
        base_url: str,
        admin_key: str,
        *,
        timeouts: Timeouts = Timeouts(),
        max_connections: int = MAX_CONNECTIONS,
        transport: httpx.AsyncBaseTransport | None = None,
        call_headers: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._deadline_s = timeouts.total
        self._call_headers = call_headers
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"X-ADMIN-KEY": admin_key},
            timeout=timeouts.httpx(),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )

    async def __aenter__(self) -> AIClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def infer(
        self,
        frames_b64: Sequence[str],
        candidate_skus: Sequence[str],
        *,
        top_k: int = 3,
        request_id: str | None = None,
        tray_id: str | None = None,
        counter_id: str | None = None,
        store_id: str | None = None,
    ) -> dict[str, Any]:
        """The service's answer for one tray, checked against the contract.

        `tray_id` (Central's session) lets the service learn from the tray's review later;
        `counter_id` lets it compare the tray with that counter's captured empty tray;
        `store_id` picks the store's gallery (absent: the AI's default store).
        """
        body: dict[str, Any] = {
            "frames_b64": list(frames_b64),
            "candidate_skus": list(candidate_skus),
            "top_k": top_k,
        }
        if request_id is not None:
            body["request_id"] = request_id
        if tray_id is not None:
            body["tray_id"] = tray_id
        if counter_id is not None:
            body["counter_id"] = counter_id
        if store_id is not None:
            body["store_id"] = store_id
        answer = _json(await self._send("POST", "/v1/infer", json=body))
        try:
            check_infer_answer(answer, candidate_skus, len(frames_b64))
        except ContractViolation as violation:
            raise AIInvalidAnswer(f"the AI answer breaks the contract: {violation}") from violation
        return answer

    async def register(
        self, sku: str, photos_b64: Sequence[str], store_id: str | None = None
    ) -> dict[str, Any]:
        """Add reference photos of a product to the store's gallery at the service.

        AIHTTPError(422) when some photo was refused: its `body` names each refused photo and
        the photos that were added all the same.
        """
        path = f"/v1/products/{quote(sku, safe='')}/photos"
        body = _with_store({"photos_b64": list(photos_b64)}, store_id)
        return _object(await self._send("POST", path, json=body, expect=201))

    async def photos(self, sku: str, store_id: str | None = None) -> dict[str, Any]:
        """The product's reference photos: `{"sku", "photos": [{"id", "added_at"}], "max"}`."""
        path = f"/v1/products/{quote(sku, safe='')}/photos"
        return _object(await self._send("GET", path, params=_with_store({}, store_id)))

    async def delete_photo(
        self, sku: str, photo_id: str, store_id: str | None = None
    ) -> dict[str, Any]:
        """Drop one reference photo; AIHTTPError(404) when the product has no such photo."""
        path = f"/v1/products/{quote(sku, safe='')}/photos/{quote(photo_id, safe='')}"
        return _object(await self._send("DELETE", path, params=_with_store({}, store_id)))

    async def seed_store(
        self, store_id: str, from_store_id: str, skus: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Copy another store's reference photos into the store's gallery:
        `{"store_id", "from_store_id", "copied": {sku: n}}`; AIHTTPError(404/409/422) when the
        service refuses (no such source, a product would pass its limit, a bad id)."""
        path = f"/v1/stores/{quote(store_id, safe='')}/seed"
        body: dict[str, Any] = {"from_store_id": from_store_id}
        if skus is not None:
            body["skus"] = list(skus)
        return _object(await self._send("POST", path, json=body))

    async def capture_background(
        self, counter_id: str, frames_b64: Sequence[str], store_id: str | None = None
    ) -> dict[str, Any]:
        """Store a counter's empty tray; AIHTTPError(422) when the frames cannot be one."""
        path = f"/v1/counters/{quote(counter_id, safe='')}/background"
        body = _with_store({"frames_b64": list(frames_b64)}, store_id)
        return _object(await self._send("POST", path, json=body, expect=201))

    async def feedback(
        self, tray_id: str, items: Sequence[Mapping[str, Any]], store_id: str | None = None
    ) -> dict[str, Any]:
        """Tell the service what staff confirmed was on a tray it recognized."""
        body = _with_store({"tray_id": tray_id, "items": [dict(item) for item in items]}, store_id)
        return _object(await self._send("POST", "/v1/feedback", json=body))

    async def ready(self) -> dict[str, Any]:
        """The service's /ready body; AIHTTPError(503) while the model loads."""
        answer = _json(await self._send("GET", "/ready"))
        if not isinstance(answer, dict) or answer.get("ready") is not True:
            raise AIInvalidAnswer(f"/ready answered 200 without ready: true: {answer!r}")
        return answer

    async def _send(
        self, method: str, path: str, expect: int = 200, **kwargs: Any
    ) -> httpx.Response:
        if self._call_headers is not None:
            kwargs["headers"] = dict(self._call_headers())
        try:
            async with asyncio.timeout(self._deadline_s):
                try:
                    response = await self._http.request(method, path, **kwargs)
                except httpx.ConnectError:
                    # The request never reached the service, so sending it once more is safe.
                    response = await self._http.request(method, path, **kwargs)
        except TimeoutError as error:
            raise AITimeout(
                "total", f"the AI service gave no whole answer within {self._deadline_s:g} s"
            ) from error
        except httpx.TimeoutException as error:
            phase = _PHASES.get(type(error), "request")
            raise AITimeout(phase, f"the AI service timed out ({phase})") from error
        except httpx.ConnectError as error:
            raise AIUnreachable(f"cannot connect to the AI service: {error}") from error
        except httpx.TransportError as error:
            raise AIUnreachable(f"the connection to the AI service failed: {error!r}") from error
        if response.status_code != expect:
            raise _http_error(response)
        return response


def _with_store(fields: dict[str, Any], store_id: str | None) -> dict[str, Any]:
    return fields if store_id is None else {**fields, "store_id": store_id}


def _object(response: httpx.Response) -> dict[str, Any]:
    answer = _json(response)
    if not isinstance(answer, dict):
        raise AIInvalidAnswer(f"the AI service answered 200 with a non-object: {answer!r:.200}")
    return answer


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as error:
        raise AIInvalidAnswer(
            f"the AI service answered 200 with a body that is not JSON: {response.text[:200]!r}"
        ) from error


def _http_error(response: httpx.Response) -> AIHTTPError:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    return AIHTTPError(
        response.status_code,
        error if isinstance(error, str) else None,
        f"the AI service answered {response.status_code}: {message or response.text[:200]!r}",
        body if isinstance(body, dict) else None,
    )
