"""Cheap checks on the frames a counter sends, before anything is stored or sent to the AI.

Central only checks what it can without decoding images (base64, size, JPEG/PNG signature);
the AI service decodes them with its own hardened decoder.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from central.errors import ApiError

_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def check_frames(
    data: dict[str, Any], max_frames: int, max_frame_bytes: int, field: str = "frames_b64"
) -> list[str]:
    frames = data.get(field)
    if not isinstance(frames, list) or not frames:
        raise ApiError(
            422,
            "invalid_field",
            f"{field}: must be a non-empty list of base64 strings",
            field=field,
        )
    if len(frames) > max_frames:
        raise ApiError(
            422,
            "too_many_frames",
            f"{field}: at most {max_frames} images",
            field=field,
            limit="max_frames" if field == "frames_b64" else "max_photos",
            max=max_frames,
        )
    # base64 grows data by 4/3: anything longer cannot decode within the limit.
    max_encoded = (max_frame_bytes + 2) // 3 * 4
    for index, frame in enumerate(frames):
        if not isinstance(frame, str) or not frame:
            raise _frame_error(field, index, "invalid_frame", "must be a non-empty base64 string")
        if len(frame) > max_encoded + 4:
            raise _too_large(field, index, max_frame_bytes)
        try:
            raw = base64.b64decode(frame, validate=True)
        except (binascii.Error, ValueError):
            raise _frame_error(field, index, "invalid_base64", "is not valid base64") from None
        if len(raw) > max_frame_bytes:
            raise _too_large(field, index, max_frame_bytes)
        if not raw.startswith(_SIGNATURES):
            raise _frame_error(
                field, index, "unsupported_frame_format", "must be a JPEG or PNG image"
            )
    return frames


def _frame_error(field: str, index: int, code: str, message: str) -> ApiError:
    return ApiError(422, code, f"{field}[{index}]: {message}", field=field, frame=index)


def _too_large(field: str, index: int, max_frame_bytes: int) -> ApiError:
    return ApiError(
        413,
        "frame_too_large",
        f"{field}[{index}]: an image may be at most {max_frame_bytes} bytes",
        field=field,
        frame=index,
        limit="max_frame_bytes",
        max=max_frame_bytes,
    )
