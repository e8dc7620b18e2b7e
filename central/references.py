"""What the AI recognizes a store's trays against: product reference photos, counter backgrounds.

The AI service has no public address; staff manage both through Central, which forwards them.
When the AI refuses what staff sent (a photo with no item, one photo too many, a tray that is not
empty), staff get the AI's own 4xx answer and detail, so they can fix it. `ai_unavailable` (502)
is kept for an AI that is down, slow, failing or talking nonsense.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from central import apidoc
from central import validation as v
from central.ai_client import AIError, AIHTTPError
from central.apidoc import api_route
from central.errors import ApiError
from central.frames import FRAME_ERRORS, FRAMES, check_frames
from central.stores import get_product_row, get_store_row
from contract import MAX_PHOTOS, PHOTO_ID_PATTERN
from servicekit import openapi as oa
from servicekit import routing as _routing  # noqa: F401  (the {name:id} path convertor)

COUNTER_RE = v.CODE_RE  # as a tray session's counter_id
PHOTO_ID_RE = re.compile(PHOTO_ID_PATTERN)
# AI answers that are Central's misconfiguration (wrong key, an AI without the route), not staff's.
_NOT_THE_CLIENTS = {401, 403, 405}

T = TypeVar("T")

PHOTOS = oa.obj(
    {
        "photos_b64": oa.array(
            oa.string(min_length=1, format="byte"),
            min_items=1,
            max_items=MAX_PHOTOS,
            description="base64 JPEG or PNG photos of the product alone on a tray",
            example=[oa.EXAMPLE_PNG_B64],
        )
    },
    required=["photos_b64"],
    additional=False,
)
_PHOTO = oa.obj({"id": oa.string(), "added_at": oa.string(nullable=True)}, required=["id"])
_WHERE = {"store_id": oa.integer(), "sku": oa.string()}


def ai_counter_id(store_id: int, counter_id: str) -> str:
    """The AI's name for a store's counter: counter ids are per store, the AI's are global."""
    return f"s{store_id}-{counter_id}"


async def register_photos(request: Request) -> JSONResponse:
    """Add 1-5 reference photos of a product to the AI's gallery. Body: photos_b64.

    201 when every photo was added; 422 naming each refused photo (the others are added);
    409 when the product would pass its limit of reference photos.
    """
    p = request.path_params
    settings = request.app.state.settings
    data = await v.json_object(request)
    v.only(data, set(PHOTOS["properties"]))
    photos = check_frames(data, MAX_PHOTOS, settings.max_frame_bytes, field="photos_b64")
    await get_product_row(request, p["store_id"], p["sku"])
    result = await _ask(request.app.state.ai.register(p["sku"], photos), p)
    return JSONResponse({**result, "sku": p["sku"], "store_id": p["store_id"]}, status_code=201)


async def list_photos(request: Request) -> JSONResponse:
    """A product's reference photos in the AI's gallery: ids and when they were added."""
    p = request.path_params
    await get_product_row(request, p["store_id"], p["sku"])
    result = await _ask(request.app.state.ai.photos(p["sku"]), p)
    return JSONResponse({**result, "sku": p["sku"], "store_id": p["store_id"]})


async def delete_photo(request: Request) -> JSONResponse:
    """Drop one reference photo, so a bad one can be replaced."""
    p = request.path_params
    if not PHOTO_ID_RE.fullmatch(p["photo_id"]):
        raise ApiError(
            404, "photo_not_found", "no such reference photo", sku=p["sku"], store_id=p["store_id"]
        )
    await get_product_row(request, p["store_id"], p["sku"])
    result = await _ask(request.app.state.ai.delete_photo(p["sku"], p["photo_id"]), p)
    return JSONResponse({**result, "sku": p["sku"], "store_id": p["store_id"]})


async def capture_background(request: Request) -> JSONResponse:
    """Capture a counter's empty tray (1-MAX_FRAMES frames) for the AI to compare trays with.

    Body: frames_b64. Take it with the tray empty, under the counter's usual light; capture again
    when the tray or the light changes. Trays of sessions at this counter are then compared with it.
    """
    p = request.path_params
    settings = request.app.state.settings
    if not COUNTER_RE.fullmatch(p["counter_id"]):
        raise v.invalid(
            "counter_id",
            "must be 1 to 32 letters, digits, '-' or '_', starting with a letter or digit",
        )
    data = await v.json_object(request)
    v.only(data, set(FRAMES["properties"]))
    frames = check_frames(data, settings.max_frames, settings.max_frame_bytes)
    await get_store_row(request, p["store_id"])
    counter = ai_counter_id(p["store_id"], p["counter_id"])
    result = await _ask(request.app.state.ai.capture_background(counter, frames), p)
    return JSONResponse(
        {**result, "store_id": p["store_id"], "counter_id": p["counter_id"]}, status_code=201
    )


async def _ask(call: Awaitable[T], where: dict[str, Any]) -> T:
    try:
        return await call
    except AIHTTPError as error:
        if 400 <= error.status_code < 500 and not _misrouted(error):
            _pass_on(error, where)
        raise ApiError(502, "ai_unavailable", str(error), **where) from None
    except AIError as error:
        raise ApiError(502, "ai_unavailable", str(error), **where) from None


def _misrouted(error: AIHTTPError) -> bool:
    # A 404 without the service's own code is a route this AI does not have (an older version).
    return error.status_code in _NOT_THE_CLIENTS or (
        error.status_code == 404 and error.error in (None, "not_found")
    )


def _pass_on(error: AIHTTPError, where: dict[str, Any]) -> NoReturn:
    """The AI's refusal, as staff should see it: its status, code, message and details."""
    message = error.body.get("message")
    details = {
        key: value
        for key, value in error.body.items()
        if key not in ("error", "message") and value is not None
    }
    raise ApiError(
        error.status_code,
        error.error or "refused_by_ai",
        message if isinstance(message, str) else str(error),
        **{**details, **where},
    ) from None


PHOTOS_PATH = "/api/v1/stores/{store_id:id}/products/{sku}/photos"
AI_ERRORS = {
    502: "the AI is unreachable, slow, failing or refuses Central itself (ai_unavailable)",
    # The AI's own refusals reach staff with its status and details.
    409: "the product would pass MAX_PHOTOS reference photos (too_many_photos, from the AI)",
    422: "the AI refused a photo or frame, naming it (e.g. photos_refused)",
}
# An image Central let through that the AI's own decoder refuses reaches staff as the AI said.
AI_IMAGE_ERRORS = {
    400: "the AI could not read an image (invalid_image, invalid_base64)",
    413: "an image is over the AI's byte or pixel limit (frame_too_large, image_too_large)",
    415: "an image is not JPEG or PNG to the AI (unsupported_format)",
}
routes = apidoc.routes(
    api_route(
        "POST",
        PHOTOS_PATH,
        register_photos,
        body=PHOTOS,
        ok={
            201: oa.Answer(
                "every photo was added",
                oa.obj(
                    {
                        **_WHERE,
                        "added": oa.array(oa.obj({"index": oa.integer(), "id": oa.string()})),
                        "refused": oa.array(oa.obj({})),
                        "photos": oa.array(_PHOTO),
                    },
                    required=["store_id", "sku", "photos"],
                ),
            )
        },
        errors=oa.refusals(FRAME_ERRORS, AI_ERRORS, AI_IMAGE_ERRORS),
    ),
    api_route(
        "GET",
        PHOTOS_PATH,
        list_photos,
        ok={
            200: oa.Answer(
                "the product's reference photos, oldest first",
                oa.obj(
                    {**_WHERE, "photos": oa.array(_PHOTO), "max": oa.integer()},
                    required=["store_id", "sku", "photos"],
                ),
            )
        },
        errors={502: AI_ERRORS[502]},
    ),
    api_route(
        "DELETE",
        PHOTOS_PATH + "/{photo_id}",
        delete_photo,
        ok={
            200: oa.Answer(
                "the photo is gone; the remaining ones",
                oa.obj(
                    {**_WHERE, "deleted": oa.string(), "photos": oa.array(_PHOTO)},
                    required=["store_id", "sku", "deleted", "photos"],
                ),
            )
        },
        errors={404: "no such product or photo (not_found, photo_not_found)", 502: AI_ERRORS[502]},
    ),
    api_route(
        "POST",
        "/api/v1/stores/{store_id:id}/counters/{counter_id}/background",
        capture_background,
        body=FRAMES,
        ok={
            201: oa.Answer(
                "the counter's empty tray is captured",
                oa.obj(
                    {"store_id": oa.integer(), "counter_id": oa.string(), "frames": oa.integer()},
                    required=["store_id", "counter_id"],
                ),
            )
        },
        errors=oa.refusals(
            FRAME_ERRORS,
            AI_IMAGE_ERRORS,
            {
                422: "counter_id breaks its rule (invalid_field); the AI refused the frames "
                "(invalid_background)",
                502: AI_ERRORS[502],
            },
        ),
    ),
    # Declared ahead: copy reference photos from another store's gallery.
    api_route(
        "POST",
        "/api/v1/stores/{store_id:id}/gallery/seed",
        None,
        summary="Seed this store's AI gallery with another store's reference photos.",
        body=oa.obj(
            {
                "from_store_id": oa.integer(minimum=1, maximum=2**31 - 1),
                "skus": oa.array(oa.string(min_length=1), description="only these SKUs"),
            },
            required=["from_store_id"],
            additional=False,
        ),
        ok={200: oa.Answer("what was copied", oa.obj({}))},
        errors={502: AI_ERRORS[502]},
    ),
)
