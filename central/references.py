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
from central.errors import ApiError, not_found
from central.frames import FRAME_ERRORS, FRAMES, check_frames, images_body
from central.stores import get_product_row, get_store_row
from central.tables import stores
from contract import MAX_PHOTOS, PHOTO_ID_PATTERN
from servicekit import openapi as oa
from servicekit import routing as _routing  # noqa: F401  (the {name:id} path convertor)

COUNTER_RE = v.CODE_RE  # as a tray session's counter_id
MAX_SEED_SKUS = 5000  # as the AI's MAX_CANDIDATES
PHOTO_ID_RE = re.compile(PHOTO_ID_PATTERN)
# AI answers that are Central's misconfiguration (wrong key, an AI without the route), not staff's.
_NOT_THE_CLIENTS = {401, 403, 405}

T = TypeVar("T")

PHOTOS = images_body(
    "photos_b64", MAX_PHOTOS, "base64 JPEG or PNG photos of the product alone on a tray"
)
_PHOTO = oa.obj({"id": oa.string(), "added_at": oa.string(nullable=True)}, required=["id"])
SEED = oa.obj(
    {
        "from_store_id": oa.integer(minimum=1, maximum=2**31 - 1),
        "skus": oa.array(
            oa.string(min_length=1, pattern=oa.SINGLE_LINE),
            min_items=1,
            max_items=MAX_SEED_SKUS,
            description="only these SKUs (default: every SKU the source has photos of)",
        ),
    },
    required=["from_store_id"],
    additional=False,
)
_WHERE = {"store_id": oa.integer(), "sku": oa.string()}


def ai_store_id(store_id: int) -> str:
    """The AI's name for a store's gallery: every store has its own reference photos."""
    return str(store_id)


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
    store = ai_store_id(p["store_id"])
    result = await _ask(request.app.state.ai.register(p["sku"], photos, store), p)
    return JSONResponse({**result, "sku": p["sku"], "store_id": p["store_id"]}, status_code=201)


async def list_photos(request: Request) -> JSONResponse:
    """A product's reference photos in the AI's gallery: ids and when they were added."""
    p = request.path_params
    await get_product_row(request, p["store_id"], p["sku"])
    result = await _ask(request.app.state.ai.photos(p["sku"], ai_store_id(p["store_id"])), p)
    return JSONResponse({**result, "sku": p["sku"], "store_id": p["store_id"]})


async def delete_photo(request: Request) -> JSONResponse:
    """Drop one reference photo, so a bad one can be replaced."""
    p = request.path_params
    if not PHOTO_ID_RE.fullmatch(p["photo_id"]):
        raise ApiError(
            404, "photo_not_found", "no such reference photo", sku=p["sku"], store_id=p["store_id"]
        )
    await get_product_row(request, p["store_id"], p["sku"])
    call = request.app.state.ai.delete_photo(p["sku"], p["photo_id"], ai_store_id(p["store_id"]))
    result = await _ask(call, p)
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
    store = ai_store_id(p["store_id"])
    result = await _ask(request.app.state.ai.capture_background(counter, frames, store), p)
    return JSONResponse(
        {**result, "store_id": p["store_id"], "counter_id": p["counter_id"]}, status_code=201
    )


async def seed_gallery(request: Request) -> JSONResponse:
    """Copy another store's reference photos into this store's gallery at the AI.

    Body: from_store_id (a store of Central's), skus (optional; default: every SKU the source
    has photos of). 200 `{"store_id", "from_store_id", "copied": {sku: photos copied}}`; the
    AI's refusals pass on as they are: 404 `store_not_found` when the source has no photos,
    409 `too_many_photos` (nothing copied) when a product would pass its limit.
    """
    p = request.path_params
    data = await v.json_object(request)
    v.only(data, set(SEED["properties"]))
    source = data.get("from_store_id")
    if not isinstance(source, int) or isinstance(source, bool) or not 1 <= source < 2**31:
        raise v.invalid("from_store_id", "must be the id of another store")
    if source == p["store_id"]:
        raise v.invalid("from_store_id", "must be another store than the one seeded")
    skus = data.get("skus")
    if skus is not None and (
        not isinstance(skus, list)
        or not 1 <= len(skus) <= MAX_SEED_SKUS
        or not all(isinstance(sku, str) and v.SKU_RE.fullmatch(sku) for sku in skus)
    ):
        raise v.invalid("skus", f"must be a list of 1 to {MAX_SEED_SKUS} SKUs (or left out)")
    await get_store_row(request, p["store_id"])
    found = await request.app.state.database.fetch_one(stores.select().where(stores.c.id == source))
    if found is None:
        raise not_found("store", from_store_id=source)
    where = {**p, "from_store_id": source}
    call = request.app.state.ai.seed_store(ai_store_id(p["store_id"]), ai_store_id(source), skus)
    result = await _ask(call, where)
    return JSONResponse({**result, "store_id": p["store_id"], "from_store_id": source})


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
    api_route(
        "POST",
        "/api/v1/stores/{store_id:id}/gallery/seed",
        seed_gallery,
        summary="Seed this store's AI gallery with another store's reference photos.",
        body=SEED,
        ok={
            200: oa.Answer(
                "how many photos were copied, by SKU",
                oa.obj(
                    {
                        "store_id": oa.integer(),
                        "from_store_id": oa.integer(),
                        "copied": oa.obj({}, additional=oa.integer()),
                    },
                    required=["store_id", "from_store_id", "copied"],
                ),
            )
        },
        errors={
            404: "this store or the source store does not exist (not_found); the source has no "
            "reference photos of those SKUs at the AI (store_not_found)",
            409: "a product would pass MAX_PHOTOS photos here; nothing was copied "
            "(too_many_photos, from the AI)",
            422: "from_store_id or skus breaks its rule (invalid_field)",
            502: AI_ERRORS[502],
        },
    ),
)
