"""What the service learns from without retraining: product reference photos, counter backgrounds.

Every learner call runs in the inference thread, between recognitions, so the gallery never
changes under a running tray. A photo or a background the recognizer cannot use is the client's
problem, answered as a 4xx naming it; only the recognizer failing on its own is a 500.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from ai import apidoc
from ai.apidoc import api_route
from ai.body import (
    BACKGROUND,
    COUNTER_ID,
    IN_STORE,
    PHOTO_ID,
    PHOTOS,
    SEED,
    SKU,
    STORE_ID,
    check_counter_id,
    check_photo_id,
    check_sku,
    check_store_id,
    parse_background_body,
    parse_photos_body,
    parse_seed_body,
    read_json,
    store_in_query,
    store_of,
)
from ai.errors import ApiError
from ai.frames import decode_frames
from ai.recognizer import (
    Learner,
    PhotoOutcome,
    SeedPassesLimit,
    StoreHasNoReferences,
    TooManyPhotos,
)
from contract import MAX_PHOTOS
from servicekit import openapi as oa

log = logging.getLogger("ai")

T = TypeVar("T")


async def register_photos(request: Request) -> JSONResponse:
    """Add 1-5 reference photos of a product; each is checked on its own (docs/ai-contract.md)."""
    state = request.app.state
    learner = learner_of(request)
    sku = check_sku(request.path_params["sku"])
    payload = await read_json(request, state.settings.max_body_bytes)
    photos_b64 = parse_photos_body(payload)
    store_id = store_of(payload)
    # A photo that is not a readable JPEG or PNG refuses the request as a whole: nothing is added.
    limits = dataclasses.replace(state.frame_limits, max_frames=len(photos_b64))
    photos = await run_in_threadpool(decode_frames, photos_b64, limits)
    try:
        outcomes = await in_inference_thread(request, learner.register, sku, photos, store_id)
    except TooManyPhotos as error:
        raise ApiError(
            409,
            "too_many_photos",
            str(error),
            limit="MAX_PHOTOS",
            details={
                "sku": sku,
                "store_id": store_id,
                "registered": error.registered,
                "given": error.given,
                "max": error.limit,
            },
        ) from error
    except ValueError as error:  # a recognizer that refuses the batch as a whole
        raise ApiError(
            422, "photos_refused", str(error), details={"sku": sku, "store_id": store_id}
        ) from error
    listed = await in_inference_thread(request, learner.photos, sku, store_id)
    body = {"store_id": store_id, **_registration(sku, outcomes, len(photos), listed)}
    log.info(
        "store %s, %s: %d photo(s) added, %d refused",
        store_id,
        sku,
        len(body["added"]),
        len(body["refused"]),
    )
    if body["refused"]:
        refused = body["refused"]
        message = "; ".join(f"photo {r['index']}: {r['reason']}" for r in refused)
        message += f"; the other {len(body['added'])} photo(s) were added"
        raise ApiError(422, "photos_refused", message, frame=refused[0]["index"], details=body)
    return JSONResponse(body, status_code=201)


async def list_photos(request: Request) -> JSONResponse:
    """A product's reference photos, oldest first."""
    learner = learner_of(request)
    sku = check_sku(request.path_params["sku"])
    store_id = store_in_query(request.query_params)
    listed = await in_inference_thread(request, learner.photos, sku, store_id)
    return JSONResponse(
        {"sku": sku, "store_id": store_id, "photos": _photos(listed), "max": MAX_PHOTOS}
    )


async def delete_photo(request: Request) -> JSONResponse:
    """Drop one reference photo, so a bad one can be replaced."""
    learner = learner_of(request)
    sku = check_sku(request.path_params["sku"])
    photo_id = check_photo_id(request.path_params["photo_id"])
    store_id = store_in_query(request.query_params)
    if not await in_inference_thread(request, learner.delete_photo, sku, photo_id, store_id):
        raise ApiError(
            404,
            "photo_not_found",
            f"product {sku!r} has no reference photo {photo_id[:80]!r} in store {store_id!r}",
            details={"sku": sku, "store_id": store_id},
        )
    listed = await in_inference_thread(request, learner.photos, sku, store_id)
    log.info("store %s, %s: reference photo %s deleted", store_id, sku, photo_id)
    return JSONResponse(
        {"sku": sku, "store_id": store_id, "deleted": photo_id, "photos": _photos(listed)}
    )


async def seed_store(request: Request) -> JSONResponse:
    """Copy another store's reference photos into this store's gallery (docs/ai-contract.md).

    All or nothing: when a product would pass MAX_PHOTOS in the target store, 409 and nothing is
    copied. Photos keep their ids; one the target already has is not copied again.
    """
    state = request.app.state
    learner = learner_of(request)
    store_id = check_store_id(request.path_params["store_id"])
    source, skus = parse_seed_body(await read_json(request, state.settings.max_body_bytes))
    if source == store_id:
        raise ApiError(
            422, "invalid_request", "from_store_id must name another store than the target"
        )
    try:
        copied = await in_inference_thread(request, learner.seed, store_id, source, skus)
    except StoreHasNoReferences as error:
        raise ApiError(
            404, "store_not_found", str(error), details={"from_store_id": error.store_id}
        ) from error
    except SeedPassesLimit as error:
        raise ApiError(
            409,
            "too_many_photos",
            str(error),
            limit="MAX_PHOTOS",
            details={
                "store_id": store_id,
                "from_store_id": source,
                "max": error.limit,
                "over": {
                    sku: {"registered": had, "copying": new}
                    for sku, (had, new) in sorted(error.over.items())
                },
            },
        ) from error
    log.info("store %s seeded from %s: %s", store_id, source, dict(copied))
    return JSONResponse({"store_id": store_id, "from_store_id": source, "copied": dict(copied)})


async def capture_background(request: Request) -> JSONResponse:
    """Store a counter's empty tray (1 to AI_MAX_FRAMES frames) for the trays that name it."""
    state = request.app.state
    learner = learner_of(request)
    counter_id = check_counter_id(request.path_params["counter_id"])
    payload = await read_json(request, state.settings.max_body_bytes)
    frames_b64 = parse_background_body(payload)
    store_id = store_of(payload)
    frames = await run_in_threadpool(decode_frames, frames_b64, state.frame_limits)
    try:
        result = await in_inference_thread(
            request, learner.capture_background, counter_id, frames, store_id
        )
    except ValueError as error:
        raise ApiError(
            422,
            "invalid_background",
            str(error),
            details={"counter_id": counter_id, "store_id": store_id},
        ) from error
    log.info(
        "store %s, counter %s: background captured from %d frame(s)",
        store_id,
        counter_id,
        len(frames),
    )
    return JSONResponse({**result, "counter_id": counter_id, "store_id": store_id}, status_code=201)


def learner_of(request: Request) -> Learner:
    state = request.app.state
    if not state.ready:
        raise ApiError(503, "not_ready", state.load_error or "the model is still loading")
    if not isinstance(state.recognizer, Learner):
        raise ApiError(501, "cannot_learn", "this recognizer cannot add to its gallery")
    return state.recognizer


async def in_inference_thread(request: Request, call: Callable[..., T], *args: Any) -> T:
    """Run `call` in the one inference thread, queued behind the trays being recognized."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app.state.inference_pool, call, *args)


def _registration(
    sku: str, outcomes: Sequence[PhotoOutcome], given: int, listed: Sequence[Any]
) -> dict[str, Any]:
    by_index = {outcome.index: outcome for outcome in outcomes}
    if sorted(by_index) != list(range(given)):
        raise RuntimeError(f"the learner answered for photos {sorted(by_index)} of {given}")
    return {
        "sku": sku,
        "added": [
            {"index": o.index, "id": o.photo_id}
            for o in (by_index[i] for i in range(given))
            if o.added
        ],
        "refused": [
            {"index": o.index, "reason": o.reason or "refused"}
            for o in (by_index[i] for i in range(given))
            if not o.added
        ],
        "photos": _photos(listed),
    }


def _photos(listed: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"id": str(photo["id"]), "added_at": photo.get("added_at")} for photo in listed]


_PHOTO = oa.obj({"id": oa.string(), "added_at": oa.string(nullable=True)}, required=["id"])
_PHOTOS = oa.array(_PHOTO)
_SKU = {"sku": SKU}
PHOTO_ERRORS = {
    400: "photo i is not base64, or empty, truncated or corrupt (invalid_base64, invalid_image)",
    413: "photo i is over AI_MAX_FRAME_BYTES or AI_MAX_FRAME_PIXELS",
    415: "photo i is not JPEG or PNG (unsupported_format)",
}
PATH = "/v1/products/{sku}/photos"
routes = apidoc.routes(
    api_route(
        "POST",
        PATH,
        register_photos,
        path_params=_SKU,
        body=PHOTOS,
        learns=True,
        ok={
            201: oa.Answer(
                "every photo was added",
                oa.obj(
                    {
                        "sku": oa.string(),
                        "added": oa.array(
                            oa.obj({"index": oa.integer(), "id": oa.string()}, required=["id"])
                        ),
                        "refused": oa.array(oa.obj({})),
                        "photos": _PHOTOS,
                    },
                    required=["sku", "added", "refused", "photos"],
                ),
            )
        },
        errors={
            **PHOTO_ERRORS,
            409: "the product would pass MAX_PHOTOS photos; nothing was added (too_many_photos)",
            422: "a photo was refused, naming each (photos_refused); 0 or too many photos "
            "(invalid_photo_count); a bad SKU (invalid_sku)",
        },
    ),
    api_route(
        "GET",
        PATH,
        list_photos,
        path_params=_SKU,
        params=[IN_STORE],
        learns=True,
        ok={
            200: oa.Answer(
                "the product's reference photos, oldest first",
                oa.obj(
                    {"sku": oa.string(), "photos": _PHOTOS, "max": oa.integer()},
                    required=["sku", "photos", "max"],
                ),
            )
        },
        errors={
            422: "the SKU is not 1 to 128 printable characters (invalid_sku); a bad store_id "
            "(invalid_store_id)"
        },
    ),
    api_route(
        "DELETE",
        PATH + "/{photo_id}",
        delete_photo,
        path_params={**_SKU, "photo_id": PHOTO_ID},
        params=[IN_STORE],
        learns=True,
        ok={
            200: oa.Answer(
                "the photo is gone; the remaining ones",
                oa.obj(
                    {"sku": oa.string(), "deleted": oa.string(), "photos": _PHOTOS},
                    required=["sku", "deleted", "photos"],
                ),
            )
        },
        errors={
            404: "the product has no such photo (photo_not_found)",
            422: "the SKU is not 1 to 128 printable characters (invalid_sku); the photo id "
            "breaks PHOTO_ID_PATTERN (invalid_photo_id); a bad store_id (invalid_store_id)",
        },
    ),
    api_route(
        "POST",
        "/v1/counters/{counter_id}/background",
        capture_background,
        path_params={"counter_id": COUNTER_ID},
        body=BACKGROUND,
        learns=True,
        ok={
            201: oa.Answer(
                "the counter's empty tray is stored",
                oa.obj(
                    {"counter_id": oa.string(), "frames": oa.integer()}, required=["counter_id"]
                ),
            )
        },
        errors={
            **PHOTO_ERRORS,
            422: "the frames cannot be an empty tray (invalid_background); a bad counter_id "
            "(invalid_counter_id); no or too many frames",
        },
    ),
    api_route(
        "POST",
        "/v1/stores/{store_id}/seed",
        seed_store,
        summary="Seed a store's gallery with another store's reference photos.",
        path_params={"store_id": STORE_ID},
        body=SEED,
        learns=True,
        ok={
            200: oa.Answer(
                "how many photos were copied, by SKU",
                oa.obj(
                    {
                        "store_id": oa.string(),
                        "from_store_id": oa.string(),
                        "copied": oa.obj({}, additional=oa.integer()),
                    },
                    required=["store_id", "from_store_id", "copied"],
                ),
            )
        },
        errors={
            404: "the source store has no reference photos (of those SKUs) (store_not_found)",
            409: "a product would pass MAX_PHOTOS photos in the target; nothing was copied "
            "(too_many_photos)",
            422: "a bad store id (invalid_store_id); the source is the target, or skus is not "
            "a non-empty list of SKUs (invalid_request); too many SKUs (too_many_skus)",
        },
    ),
)
