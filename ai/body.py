"""The AI's request bodies and parameters: read within AI_MAX_BODY_BYTES, checked against the
schemas its OpenAPI document shows, then parsed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ai.errors import ApiError
from ai.settings import MOST_FRAMES
from contract import (
    COUNTER_ID_PATTERN,
    DEFAULT_STORE,
    MAX_FRAMES,
    MAX_PHOTOS,
    PHOTO_ID_PATTERN,
    STORE_ID_PATTERN,
)
from contract.jsonbody import JSONBodyError, parse_json_body
from servicekit import openapi as oa

MAX_CANDIDATES = 5000
MAX_TOP_K = 50
MAX_ID_LENGTH = 128
MAX_SKU_LENGTH = 128
MAX_COUNT = 100

# The bodies as the OpenAPI document shows them, and as `checked` enforces them: each rule a
# request breaks is answered with the code its schema names (`x-error-code`, `x-limit`, the codes
# docs/ai-contract.md lists), else the nearest enclosing one's, else `invalid_request`. What a
# schema cannot say (a SKU's printable characters, base64 frames, AI_MAX_FRAMES when set lower,
# a seed's source other than its target) is checked in code after it. Keys a body does not
# declare are ignored.
_ID = oa.string(min_length=1, max_length=MAX_ID_LENGTH)
COUNTER_ID = oa.coded(
    oa.string(pattern=f"^{COUNTER_ID_PATTERN}$"), "invalid_counter_id", "COUNTER_ID_PATTERN"
)
STORE_ID = oa.coded(
    oa.string(pattern=f"^{STORE_ID_PATTERN}$", description="the store whose gallery to use"),
    "invalid_store_id",
    "STORE_ID_PATTERN",
)
# In a body, null is the same as leaving it out: the default store.
_BODY_STORE_ID = {**oa.nullable(STORE_ID), "description": f"absent or null: {DEFAULT_STORE!r}"}
SKU = oa.coded(
    oa.string(
        min_length=1,
        max_length=MAX_SKU_LENGTH,
        pattern=oa.SINGLE_LINE,
        description="printable characters",
    ),
    "invalid_sku",
    "MAX_SKU_LENGTH",
)
PHOTO_ID = oa.coded(
    oa.string(pattern=f"^{PHOTO_ID_PATTERN}$"), "invalid_photo_id", "PHOTO_ID_PATTERN"
)
IN_STORE = oa.query("store_id", STORE_ID)
FRAME_FIELDS = ("frames_b64", "photos_b64")


def images(description: str, max_items: int, codes: dict[str, str], limit: str) -> oa.Schema:
    return oa.coded(
        oa.array(
            oa.string(format="byte"),
            min_items=1,
            max_items=max_items,
            description=description,
            example=[oa.EXAMPLE_PNG_B64],
        ),
        codes,
        limit,
    )


def frames(description: str) -> oa.Schema:
    # AI_MAX_FRAMES may be set from 1 to MOST_FRAMES; the decoder holds a request to the setting.
    return images(
        f"{description}: at most AI_MAX_FRAMES ({MAX_FRAMES} unless set; never more than "
        f"{MOST_FRAMES})",
        MOST_FRAMES,
        {"minItems": "no_frames", "maxItems": "too_many_frames"},
        "AI_MAX_FRAMES",
    )


INFER = oa.obj(
    {
        "candidate_skus": oa.coded(
            oa.array(oa.string(min_length=1), min_items=1, max_items=MAX_CANDIDATES),
            {"maxItems": "too_many_candidates"},
            "MAX_CANDIDATES",
        ),
        "top_k": oa.coded(
            oa.integer(minimum=1, maximum=MAX_TOP_K, default=3), "invalid_request", "MAX_TOP_K"
        ),
        "request_id": oa.string(nullable=True),
        "tray_id": oa.nullable(_ID),
        "counter_id": oa.nullable(COUNTER_ID),
        "store_id": _BODY_STORE_ID,
        # Last: a request that is wrong in another field is told so before its frames are counted.
        "frames_b64": frames("base64 JPEG or PNG frames of one tray"),
    },
    required=["frames_b64", "candidate_skus"],
)
PHOTOS = oa.obj(
    {
        "photos_b64": images(
            f"1 to MAX_PHOTOS ({MAX_PHOTOS}) reference photos",
            MAX_PHOTOS,
            {"minItems": "invalid_photo_count", "maxItems": "invalid_photo_count"},
            "MAX_PHOTOS",
        ),
        "store_id": _BODY_STORE_ID,
    },
    required=["photos_b64"],
)
BACKGROUND = oa.obj(
    {"frames_b64": frames("views of the counter's empty tray"), "store_id": _BODY_STORE_ID},
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
        "store_id": _BODY_STORE_ID,
    },
    required=["tray_id", "items"],
)
SEED = oa.obj(
    {
        "from_store_id": STORE_ID,
        # absent or null: every SKU the source has photos of
        "skus": oa.nullable(
            oa.coded(
                oa.array(SKU, min_items=1, max_items=MAX_CANDIDATES),
                {"maxItems": "too_many_skus"},
                "MAX_CANDIDATES",
            )
        ),
    },
    required=["from_store_id"],
)


def checked(schema: oa.Schema, value: Any, name: str = "") -> None:
    """Nothing, when `value` keeps every rule of `schema`; else the 422 its schema names.

    `name`: the field's name, for a value that is one field (a path or query parameter).
    """
    found = oa.violation(schema, value)
    if found is None:
        return
    code, limit = _code_of(found)
    field = ".".join(part for part in (name, found.field()) if part)
    details: dict[str, Any] = {"field": field} if field else {}
    if limit is not None:
        details["limit"] = limit
    path = found.path
    if len(path) > 1 and path[0] in FRAME_FIELDS and isinstance(path[1], int):
        details["frame"] = path[1]
    subject = field or "the body"
    raise ApiError(422, code, f"{subject} {found.text}", details=details)


def _code_of(found: oa.Violation) -> tuple[str, str | None]:
    """The error code (and limit) for a broken rule: the broken schema's own, for that keyword,
    else the nearest enclosing schema's single code, else invalid_request. A missing field is the
    enclosing object's problem, not the field's."""
    rule = found.rule
    own = rule.get("x-error-code")
    if isinstance(own, dict):
        own = own.get(found.keyword)
    if isinstance(own, str) and found.keyword != "required":
        return own, rule.get("x-limit")
    for schema in reversed(found.trail[:-1]):
        code = schema.get("x-error-code")
        if isinstance(code, str):
            return code, schema.get("x-limit")
    return "invalid_request", None


def _given(payload: dict[str, Any], schema: oa.Schema, name: str) -> Any:
    """A checked body's field: its value, or its declared default when absent or null."""
    value = payload.get(name)
    return schema["properties"][name].get("default") if value is None else value


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
    checked(INFER, payload)
    return InferBody(
        payload["frames_b64"],
        tuple(dict.fromkeys(payload["candidate_skus"])),
        _given(payload, INFER, "top_k"),
        payload.get("request_id"),
        payload.get("tray_id"),
        payload.get("counter_id"),
        store_of(payload),
    )


def check_counter_id(value: Any) -> str:
    """A counter id as the contract defines it, or a 422 naming the rule."""
    checked(COUNTER_ID, value, "counter_id")
    return str(value)


def check_photo_id(value: Any) -> str:
    """A reference photo's id as the AI gives them, or a 422 naming the rule."""
    checked(PHOTO_ID, value, "photo_id")
    return str(value)


def check_store_id(value: Any) -> str:
    """A store id as the contract defines it, or a 422 naming the rule."""
    checked(STORE_ID, value, "store_id")
    return str(value)


def store_of(payload: Any) -> str:
    """A JSON body's optional store_id; absent (or null): the default store."""
    value = payload.get("store_id") if isinstance(payload, dict) else None
    return DEFAULT_STORE if value is None else check_store_id(value)


def store_in_query(query: Mapping[str, str]) -> str:
    """The optional ?store_id= of a GET or DELETE; absent: the default store."""
    value = query.get(IN_STORE.name)
    if value is None:
        return DEFAULT_STORE
    checked(IN_STORE.schema, value, IN_STORE.name)
    return value


def parse_seed_body(payload: Any) -> tuple[str, list[str] | None]:
    """`{"from_store_id": str, "skus": [str] (optional: all)}`: which references to copy."""
    checked(SEED, payload)
    skus = payload.get("skus")
    if skus is None:
        return payload["from_store_id"], None
    return payload["from_store_id"], [check_sku(sku) for sku in dict.fromkeys(skus)]


def check_sku(value: Any) -> str:
    """A SKU (in a path, or a seed's list): 1 to MAX_SKU_LENGTH printable characters."""
    checked(SKU, value, "sku")
    if not value.isprintable():  # beyond control characters: separators, format characters
        raise ApiError(
            422,
            "invalid_sku",
            f"the SKU must be 1 to {MAX_SKU_LENGTH} printable characters",
            field="sku",
            limit="MAX_SKU_LENGTH",
        )
    return str(value)


def parse_background_body(payload: Any) -> list[Any]:
    """`{"frames_b64": [...]}`: 1 to AI_MAX_FRAMES views of a counter's empty tray."""
    checked(BACKGROUND, payload)
    return list(payload["frames_b64"])  # the decoder holds them to AI_MAX_FRAMES


def parse_photos_body(payload: Any) -> list[Any]:
    """`{"photos_b64": [...]}`: 1 to MAX_PHOTOS reference photos of one product."""
    checked(PHOTOS, payload)
    return list(payload["photos_b64"])


def parse_feedback_body(payload: Any) -> tuple[str, list[tuple[str, int]]]:
    """`{"tray_id": ..., "items": [{"sku", "count"}]}`: what staff confirmed was on a tray."""
    checked(FEEDBACK, payload)
    return payload["tray_id"], [(item["sku"], item["count"]) for item in payload["items"]]


def _too_large(size: int, max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the body is {size} bytes; at most {max_bytes}",
        limit="AI_MAX_BODY_BYTES",
    )
