"""The service's routes: liveness, readiness, inference, and learning from resolved reviews."""

from __future__ import annotations

import asyncio
import logging
import time

from PIL import Image
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from ai import apidoc
from ai.apidoc import api_route
from ai.body import FEEDBACK, INFER, parse_feedback_body, parse_infer_body, read_json, store_of
from ai.errors import ApiError
from ai.frames import decode_frames
from ai.recognizer import TrayRequest, answer_json, recognize
from ai.references import learner_of
from ai.trays import TrayMemory
from contract import MAX_ITEM_COUNT
from contract.answer import DECISIONS, ContractViolation, check_infer_answer
from servicekit import openapi as oa

log = logging.getLogger("ai")


async def health(request: Request) -> JSONResponse:
    """Liveness: the process answers. No key, no I/O."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    """Readiness: the model and gallery are loaded and requests will be answered."""
    state = request.app.state
    body = {
        "ready": state.ready,
        "model_version": state.recognizer.model_version,
        "device": state.recognizer.device,
        "mock": state.settings.mock_mode,
    }
    if state.load_error:
        body["error"] = state.load_error
    return JSONResponse(body, status_code=200 if state.ready else 503)


async def infer(request: Request) -> JSONResponse:
    """Recognize the items on one tray (docs/ai-contract.md)."""
    state = request.app.state
    if not state.ready:
        raise ApiError(503, "not_ready", state.load_error or "the model is still loading")
    started = time.perf_counter()
    body = parse_infer_body(await read_json(request, state.settings.max_body_bytes))
    frames = await run_in_threadpool(decode_frames, body.frames_b64, state.frame_limits)
    decoded = time.perf_counter()
    tray = TrayRequest(frames, body.candidate_skus, body.top_k, body.counter_id, body.store_id)
    # One inference at a time: the model and the GPU are shared, and queueing keeps latency even.
    loop = asyncio.get_running_loop()
    try:
        recognition = await loop.run_in_executor(
            state.inference_pool, recognize, state.recognizer, tray
        )
    except ValueError as refused:
        # the recognizer's refusal of this tray (Recognizer.preprocess: frames of different
        # sizes, a frame it cannot use): the client's to fix, so a 422 naming it, not a 500
        log.warning("request %s: the recognizer refused the tray: %s", body.request_id, refused)
        raise ApiError(
            422, "tray_refused", f"the tray cannot be recognized: {refused}"
        ) from refused
    timings = {
        "decode": (decoded - started) * 1000,
        **recognition.timings_ms,
        "total": (time.perf_counter() - started) * 1000,
    }
    answer = answer_json(recognition, state.recognizer, timings)
    try:
        check_infer_answer(answer, body.candidate_skus, len(frames))
    except ContractViolation as violation:
        log.error("request %s: the recognizer broke the contract: %s", body.request_id, violation)
        raise ApiError(
            500, "invalid_recognition", "the recognizer produced an invalid answer"
        ) from violation
    state.metrics.observe_recognition(timings, answer["decision"])
    log.info(
        "request %s: %s, %d item kinds, %d frames, %.1f ms",
        body.request_id,
        answer["decision"],
        len(answer["items"]),
        len(frames),
        timings["total"],
    )
    # Kept for learning after the answer is sent: encoding the frames is not the client's wait.
    keep = (
        None
        if body.tray_id is None
        else BackgroundTask(_remember, state.trays, body.tray_id, frames)
    )
    return JSONResponse(answer, background=keep)


async def _remember(trays: TrayMemory, tray_id: str, frames: list[Image.Image]) -> None:
    await run_in_threadpool(trays.remember, tray_id, frames)


async def feedback(request: Request) -> JSONResponse:
    """Learn from a resolved review: the tray's item crops join the gallery under the true SKUs."""
    state = request.app.state
    learner = learner_of(request)
    payload = await read_json(request, state.settings.max_body_bytes)
    tray_id, items = parse_feedback_body(payload)
    store_id = store_of(payload)
    frames = state.trays.recall(tray_id)
    if frames is None:
        raise ApiError(
            404,
            "tray_not_remembered",
            f"tray {tray_id!r} is not among the last {state.trays.max_trays} trays kept",
        )
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(
        state.inference_pool, learner.learn, frames, items, store_id
    )
    state.trays.forget(tray_id)
    log.info("store %s: learned from tray %s: %s", store_id, tray_id, dict(result))
    return JSONResponse({"tray_id": tray_id, "store_id": store_id, **result})


_NUMBER = oa.number()
apidoc.schemas["InferAnswer"] = oa.obj(
    {
        "decision": oa.string(enum=list(DECISIONS)),
        "reason": oa.string(),
        "items": oa.array(
            oa.obj(
                {
                    "sku": oa.string(nullable=True, description="null: matched no candidate"),
                    "count": oa.integer(minimum=1, maximum=MAX_ITEM_COUNT),
                    "confidence": oa.number(minimum=0, maximum=1),
                    "candidates": oa.array(
                        oa.obj({"sku": oa.string(), "score": _NUMBER}, required=["sku", "score"])
                    ),
                    "boxes": oa.array(
                        oa.obj(
                            {
                                "frame": oa.integer(minimum=0),
                                "box": oa.array(_NUMBER, min_items=4, max_items=4),
                            },
                            required=["frame", "box"],
                        )
                    ),
                },
                required=["sku", "count", "confidence", "candidates", "boxes"],
            )
        ),
        "model_version": oa.string(),
        "device": oa.string(),
        "timings_ms": oa.obj({}, additional=_NUMBER),
    },
    required=["decision", "reason", "items", "model_version", "device", "timings_ms"],
)
_READINESS = oa.obj(
    {
        "ready": oa.boolean(),
        "model_version": oa.string(),
        "device": oa.string(),
        "mock": oa.boolean(),
        "error": oa.string(description="why loading failed"),
    },
    required=["ready", "model_version", "device", "mock"],
)
FRAME_ERRORS = {
    400: "frame i is not base64, or empty, truncated or corrupt (invalid_base64, invalid_image)",
    413: "frame i is over AI_MAX_FRAME_BYTES or AI_MAX_FRAME_PIXELS "
    "(frame_too_large, image_too_large)",
    415: "frame i is not JPEG or PNG (unsupported_format)",
    422: "no frames, too many frames, or a frame of a pixel mode that cannot become RGB",
}

routes = apidoc.routes(
    api_route(
        "GET",
        "/health",
        health,
        ok={200: oa.Answer("the process answers", oa.obj({"status": oa.string()}))},
    ),
    api_route(
        "GET",
        "/ready",
        ready,
        ok={
            200: oa.Answer("the model and gallery are loaded", _READINESS),
            503: oa.Answer("still loading, or loading failed (`error` says why)", _READINESS),
        },
    ),
    api_route(
        "POST",
        "/v1/infer",
        infer,
        body=INFER,
        ok={200: oa.Answer("what is on the tray", oa.ref("InferAnswer"))},
        errors={
            **FRAME_ERRORS,
            422: "a field is missing or wrong (invalid_request); too many candidates "
            "(too_many_candidates); a bad counter_id (invalid_counter_id); no or too many "
            "frames; a malformed mock marker (invalid_mock_marker)",
            503: "the model is still loading, or failed to load (not_ready)",
            500: "the recognizer broke the contract: a bug, never sent as an answer "
            "(invalid_recognition)",
        },
    ),
    api_route(
        "POST",
        "/v1/feedback",
        feedback,
        body=FEEDBACK,
        learns=True,
        ok={
            200: oa.Answer(
                "the tray's crops joined the gallery",
                oa.obj({"tray_id": oa.string()}, required=["tray_id"]),
            )
        },
        errors={404: "the tray's frames are no longer kept (tray_not_remembered)"},
    ),
)
