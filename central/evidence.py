"""A run's frames as evidence: the images the counter sent, and the same with the AI's boxes.

Both are under /api/v1, so they need a key (admin or staff); a browser fetches them with the
header and shows the bytes. The archive's names come from the run row, never from the URL.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from central import apidoc
from central.annotate import NotAnImage, annotate
from central.apidoc import api_route
from central.archive import ArchiveError, FrameMissing, TrayArchive
from central.db import Database, loads
from central.errors import ApiError, not_found
from central.presentation import item_json
from central.tables import recognition_items, recognition_runs
from servicekit import openapi as oa
from servicekit import routing as _routing  # noqa: F401  (the {name:id} path convertor)

log = logging.getLogger("central.evidence")

# Frames never change once stored: a browser may keep them for the review's lifetime.
CACHE = "private, max-age=3600, immutable"
MAX_ID = 2**31 - 1


async def _run_and_name(request: Request) -> tuple[Any, str]:
    database: Database = request.app.state.database
    run_id, index = request.path_params["run_id"], request.path_params["index"]
    if run_id > MAX_ID:  # beyond the column: no such run (and no driver overflow)
        raise not_found("recognition run", run_id=run_id)
    run = await database.fetch_one(recognition_runs.select().where(recognition_runs.c.id == run_id))
    if run is None:
        raise not_found("recognition run", run_id=run_id)
    names = loads(run.frames) or []
    if not 0 <= index < len(names):
        raise ApiError(
            404,
            "frame_not_archived",
            f"run {run_id} has {len(names)} archived frame(s); frame {index} is not one",
            run_id=run_id,
            frame=index,
            archived=len(names),
        )
    return run, names[index]


async def _read(request: Request, name: str) -> bytes:
    archive: TrayArchive = request.app.state.settings.tray_archive
    try:
        return await archive.get(name)
    except FrameMissing:
        raise ApiError(
            410, "frame_expired", "the frame is no longer in the tray archive", frame=name
        ) from None
    except ArchiveError as error:
        log.warning("tray archive read failed", extra={"frame": name, "error": str(error)})
        raise ApiError(
            503, "archive_unavailable", "the tray archive did not answer; try again"
        ) from None


def _media_type(name: str) -> str:
    return "image/png" if name.endswith(".png") else "image/jpeg"


async def frame(request: Request) -> Response:
    """One frame of a run, exactly as the counter sent it (JPEG or PNG)."""
    _, name = await _run_and_name(request)
    data = await _read(request, name)
    return Response(data, media_type=_media_type(name), headers={"Cache-Control": CACHE})


async def annotated_frame(request: Request) -> Response:
    """One frame of a run with each item's box, product and confidence drawn (JPEG).

    Items staff must check (unmatched, or unsure in a run sent to review) are yellow.
    """
    run, name = await _run_and_name(request)
    data = await _read(request, name)
    rows = await request.app.state.database.fetch_all(
        recognition_items.select().where(recognition_items.c.run_id == run.id)
    )
    items = [item_json(row._mapping) for row in rows]
    index = request.path_params["index"]
    try:
        # Decoding and drawing a 12 MP frame takes tens of ms: off the event loop.
        rendered = await asyncio.to_thread(annotate, data, index, items, run.decision)
    except NotAnImage as error:
        raise ApiError(
            422, "frame_undecodable", f"the stored frame cannot be drawn on: {error}"
        ) from None
    return Response(rendered, media_type="image/jpeg", headers={"Cache-Control": CACHE})


_BYTES = oa.string(format="binary")
FRAME_ERRORS = {
    404: "no such run, or the run has no archived frame with this index (frame_not_archived)",
    410: "the frame is no longer in the tray archive (frame_expired)",
    503: "the tray archive did not answer (archive_unavailable)",
}
routes = apidoc.routes(
    api_route(
        "GET",
        "/api/v1/runs/{run_id:id}/frames/{index:id}",
        frame,
        ok={
            200: oa.Answer(
                "the frame's bytes",
                media={"image/jpeg": _BYTES, "image/png": _BYTES},
            )
        },
        errors=FRAME_ERRORS,
    ),
    api_route(
        "GET",
        "/api/v1/runs/{run_id:id}/frames/{index:id}/annotated",
        annotated_frame,
        ok={200: oa.Answer("the frame with the boxes drawn", media={"image/jpeg": _BYTES})},
        errors=oa.refusals(
            FRAME_ERRORS, {422: "the stored frame cannot be drawn on (frame_undecodable)"}
        ),
    ),
)
