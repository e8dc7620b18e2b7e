"""Read and parse the JSON body of an infer request within AI_MAX_BODY_BYTES."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ai.errors import ApiError
from contract import COUNTER_ID_PATTERN, DEFAULT_STORE, MAX_FRAMES, MAX_PHOTOS, STORE_ID_PATTERN
from contract.jsonbody import JSONBodyError, parse_json_body
from servicekit import openapi as oa

MAX_CANDIDATES = 5000
MAX_TOP_K = 50
MAX_ID_LENGTH = 128
MAX_SKU_LENGTH = 128
MAX_COUNT = 100

# The bodies as the OpenAPI document shows them; the parsers below enforce each rule, with the
# error codes docs/ai-contract.md lists. Keys a parser does not know are ignored.
_ID = oa.string(min_length=1, max_length=MAX_ID_LENGTH)
COUNTER_ID = oa.string(pattern=f"^{COUNTER_ID_PATTERN}$")
STORE_ID = oa.string(pattern=f"^{STORE_ID_PATTERN}$", description="the store whose gallery to use")
SKU = oa.string(min_length=1, max_length=MAX_SKU_LENGTH, description="printable characters")


def images(description: str, max_items: int) -> oa.Schema:
    return oa.array(
        oa.string(format="byte"),
        min_items=1,
        max_items=max_items,
        description=description,
        example=[oa.EXAMPLE_PNG_B64],
    )


INFER = oa.obj(
    {
        "frames_b64": images("base64 JPEG or PNG frames of one tray (AI_MAX_FRAMES)", MAX_FRAMES),
        "candidate_skus": oa.array(oa.string(min_length=1), min_items=1, max_items=MAX_CANDIDATES),
        "top_k": oa.integer(minimum=1, maximum=MAX_TOP_K, default=3),
        "request_id": oa.string(nullable=True),
        "tray_id": {**_ID, "nullable": True},
        "counter_id": {**COUNTER_ID, "nullable": True},
        "store_id": STORE_ID,
    },
    required=["frames_b64", "candidate_skus"],
)
PHOTOS = oa.obj(
    {"photos_b64": images("1 to MAX_PHOTOS reference photos", MAX_PHOTOS), "store_id": STORE_ID},
    required=["photos_b64"],
)
BACKGROUND = oa.obj(
    {"frames_b64": images("views of the counter's empty tray", MAX_FRAMES)},
    required=["frames_b64"],
)
FEEDBACK = oa.obj(
    {
        "tray_id": _ID,
        "items": oa.array(
            oa.obj(
                {"sku": oa.string(min_length=1), "count": oa.integer(minimum=1, maximum=MAX_COUNT)},
                required=["sku", "count"],
            ),
            min_items=1,
        ),
        "store_id": STORE_ID,
    },
    required=["tray_id", "items"],
)


@dataclass(frozen=True)
class InferBody:
    frames_b64: list[Any]
    candidate_skus: tuple[str, ...]
    top_k: int
    request_id: str | None
    tray_id: str | None  # Central's session: remembered so a staff correction can teach the AI
    counter_id: str | None  # whose captured empty tray to compare against; None: estimate it
    store_id: str = DEFAULT_STORE  # whose gallery the tray is matched against


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
        return parse_json_body(bytes(body))
    except JSONBodyError as error:
        raise ApiError(400, "invalid_json", str(error)) from None


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
    tray_id = _optional_id(payload, "tray_id")
    counter_id = payload.get("counter_id")
    if counter_id is not None:
        counter_id = check_counter_id(counter_id)
    return InferBody(
        frames,
        tuple(dict.fromkeys(skus)),
        top_k,
        request_id,
        tray_id,
        counter_id,
        store_of(payload),
    )


_COUNTER_ID = re.compile(COUNTER_ID_PATTERN)
_STORE_ID = re.compile(STORE_ID_PATTERN)


def check_counter_id(value: Any) -> str:
    """A counter id as the contract defines it, or a 422 naming the rule."""
    if not isinstance(value, str) or not _COUNTER_ID.fullmatch(value):
        raise ApiError(
            422,
            "invalid_counter_id",
            f"counter_id {str(value)[:40]!r} is not 1 to 64 letters, digits, '-' or '_' "
            "starting with a letter or digit",
            limit="COUNTER_ID_PATTERN",
        )
    return value


def check_store_id(value: Any) -> str:
    """A store id as the contract defines it, or a 422 naming the rule."""
    if not isinstance(value, str) or not _STORE_ID.fullmatch(value):
        raise ApiError(
            422,
            "invalid_store_id",
            f"store_id {str(value)[:40]!r} is not 1 to 64 letters, digits, '-' or '_'",
            limit="STORE_ID_PATTERN",
        )
    return value


def store_of(payload: Any) -> str:
    """A JSON body's optional store_id; absent (or null): the default store."""
    value = payload.get("store_id") if isinstance(payload, dict) else None
    return DEFAULT_STORE if value is None else check_store_id(value)


def store_in_query(query: Mapping[str, str]) -> str:
    """The optional ?store_id= of a GET or DELETE; absent: the default store."""
    value = query.get("store_id")
    return DEFAULT_STORE if value is None else check_store_id(value)


def parse_seed_body(payload: Any) -> tuple[str, list[str] | None]:
    """`{"from_store_id": str, "skus": [str] (optional: all)}`: which references to copy."""
    if not isinstance(payload, dict):
        raise _invalid("the body must be a JSON object")
    if "from_store_id" not in payload:
        raise _invalid("from_store_id is required")
    source = check_store_id(payload["from_store_id"])
    skus = payload.get("skus")
    if skus is None:
        return source, None
    if not isinstance(skus, list) or not skus or not all(isinstance(s, str) for s in skus):
        raise _invalid("skus must be a non-empty list of SKUs (or left out: every SKU)")
    if len(skus) > MAX_CANDIDATES:
        raise ApiError(
            422,
            "too_many_skus",
            f"{len(skus)} SKUs; at most {MAX_CANDIDATES}",
            limit="MAX_CANDIDATES",
        )
    return source, [check_sku(sku) for sku in dict.fromkeys(skus)]


def check_sku(value: str) -> str:
    """A SKU in a path: 1 to MAX_SKU_LENGTH printable characters."""
    if not 1 <= len(value) <= MAX_SKU_LENGTH or not value.isprintable():
        raise ApiError(
            422,
            "invalid_sku",
            f"the SKU must be 1 to {MAX_SKU_LENGTH} printable characters",
            limit="MAX_SKU_LENGTH",
        )
    return value


def parse_background_body(payload: Any) -> list[Any]:
    """`{"frames_b64": [...]}`: 1 to AI_MAX_FRAMES views of a counter's empty tray."""
    if not isinstance(payload, dict) or not isinstance(payload.get("frames_b64"), list):
        raise _invalid('the body must be {"frames_b64": [base64 JPEG or PNG, ...]}')
    return payload["frames_b64"]  # the decoder refuses none or too many, naming AI_MAX_FRAMES


def parse_photos_body(payload: Any) -> list[Any]:
    """`{"photos_b64": [...]}`: 1 to MAX_PHOTOS reference photos of one product."""
    if not isinstance(payload, dict) or not isinstance(payload.get("photos_b64"), list):
        raise _invalid('the body must be {"photos_b64": [base64 JPEG or PNG, ...]}')
    photos = payload["photos_b64"]
    if not 1 <= len(photos) <= MAX_PHOTOS:
        raise ApiError(
            422,
            "invalid_photo_count",
            f"{len(photos)} photos; register 1 to {MAX_PHOTOS} at a time",
            limit="MAX_PHOTOS",
        )
    return photos


def parse_feedback_body(payload: Any) -> tuple[str, list[tuple[str, int]]]:
    """`{"tray_id": ..., "items": [{"sku", "count"}]}`: what staff confirmed was on a tray."""
    if not isinstance(payload, dict):
        raise _invalid("the body must be a JSON object")
    tray_id = _optional_id(payload, "tray_id")
    if tray_id is None:
        raise _invalid("tray_id is required")
    items = payload.get("items")
    if not isinstance(items, list) or not items:
        raise _invalid("items must be a non-empty list of {sku, count}")
    parsed = []
    for number, item in enumerate(items):
        sku = item.get("sku") if isinstance(item, dict) else None
        count = item.get("count") if isinstance(item, dict) else None
        if not isinstance(sku, str) or not sku:
            raise _invalid(f"items[{number}].sku must be a non-empty string")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
            raise _invalid(f"items[{number}].count must be a whole number from 1 to {MAX_COUNT}")
        parsed.append((sku, count))
    return tray_id, parsed


def _optional_id(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH:
        raise _invalid(f"{key} must be a string of 1 to {MAX_ID_LENGTH} characters")
    return value


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_request", message)


def _too_large(size: int, max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the body is {size} bytes; at most {max_bytes}",
        limit="AI_MAX_BODY_BYTES",
    )
