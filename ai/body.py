"""Read and parse the JSON body of an infer request within AI_MAX_BODY_BYTES."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ai.errors import ApiError

MAX_CANDIDATES = 5000
MAX_TOP_K = 50


@dataclass(frozen=True)
class InferBody:
    frames_b64: list[Any]
    candidate_skus: tuple[str, ...]
    top_k: int
    request_id: str | None


async def read_json(request: Request, max_bytes: int) -> Any:
    """The body as JSON; refused as soon as it passes max_bytes, before it is all in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(int(declared), max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(len(body), max_bytes)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {error}") from error


def parse_infer_body(payload: Any) -> InferBody:
    if not isinstance(payload, dict):
        raise _invalid("the body must be a JSON object")
    frames = payload.get("frames_b64")
    if not isinstance(frames, list):
        raise _invalid("frames_b64 must be a list of base64 JPEG or PNG frames")
    skus = payload.get("candidate_skus")
    if not isinstance(skus, list) or not all(isinstance(sku, str) and sku for sku in skus):
        raise _invalid("candidate_skus must be a list of non-empty strings")
    if not skus:
        raise _invalid("candidate_skus must name at least one SKU")
    if len(skus) > MAX_CANDIDATES:
        raise ApiError(
            422,
            "too_many_candidates",
            f"{len(skus)} candidate SKUs; at most {MAX_CANDIDATES}",
            limit="MAX_CANDIDATES",
        )
    top_k = payload.get("top_k", 3)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise ApiError(
            422,
            "invalid_request",
            f"top_k must be a whole number from 1 to {MAX_TOP_K}",
            limit="MAX_TOP_K",
        )
    request_id = payload.get("request_id")
    if request_id is not None and not isinstance(request_id, str):
        raise _invalid("request_id must be a string")
    return InferBody(frames, tuple(dict.fromkeys(skus)), top_k, request_id)


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_request", message)


def _too_large(size: int, max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the body is {size} bytes; at most {max_bytes}",
        limit="AI_MAX_BODY_BYTES",
    )
