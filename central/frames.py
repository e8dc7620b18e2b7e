"""Cheap checks on the frames a counter sends, before anything is stored or sent to the AI.

Central checks base64, size and the JPEG/PNG signature, then that the image decodes: the header's
dimensions are checked before any pixel is decoded, and a JPEG is decoded at 1/8 scale (all of its
data is still read, so a truncated file fails). A frame that is not an image is the client's error
(422), never a staff review labelled "AI unavailable". The AI service decodes at full size with its
own hardened decoder.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from typing import Any

from PIL import Image

from central.errors import ApiError
from contract import MAX_FRAME_PIXELS, MAX_FRAMES
from servicekit import openapi as oa

_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


# Frames as a counter sends them; Central's MAX_FRAMES setting may lower the contract's limit.
def images_body(field: str, most: int, description: str) -> oa.Schema:
    """A body of one field: 1 to `most` base64 JPEG or PNG images, nothing else."""
    return oa.obj(
        {
            field: oa.array(
                oa.string(min_length=1, format="byte"),
                min_items=1,
                max_items=most,
                description=description,
                example=[oa.EXAMPLE_PNG_B64],
            )
        },
        required=[field],
        additional=False,
    )


FRAMES = images_body("frames_b64", MAX_FRAMES, "base64 JPEG or PNG frames of the tray")
FRAME_ERRORS = {
    413: "a frame exceeds MAX_FRAME_BYTES (frame_too_large)",
    422: "a frame is not base64, not JPEG or PNG, undecodable or too many pixels; "
    "too many frames (each naming the frame)",
}


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
        check_decodable(raw, field, index)
    return frames


# A decompression bomb must be an error, never a warning; our own pixel check catches the rest.
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_UNDECODABLE = (OSError, SyntaxError, ValueError, EOFError)


def check_decodable(raw: bytes, field: str, index: int, max_pixels: int = MAX_FRAME_PIXELS) -> None:
    """Raise a 422 naming the problem unless `raw` is a JPEG or PNG of at most max_pixels that
    decodes to its end."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=("JPEG", "PNG")) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise _too_many_pixels(field, index, f"{width}x{height}", max_pixels)
                # JPEG only: decoding at 1/8 scale costs ~1/64 of the pixels.
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except _BOMB:
        raise _too_many_pixels(field, index, "a decompression bomb", max_pixels) from None
    except _UNDECODABLE as error:
        raise _frame_error(
            field, index, "undecodable_frame", f"is not a decodable JPEG or PNG image ({error})"
        ) from None


def _too_many_pixels(field: str, index: int, size: str, max_pixels: int) -> ApiError:
    return ApiError(
        422,
        "frame_too_many_pixels",
        f"{field}[{index}]: {size} has too many pixels; at most {max_pixels} pixels per image",
        field=field,
        frame=index,
        limit="max_frame_pixels",
        max=max_pixels,
    )


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
