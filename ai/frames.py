"""Turn untrusted base64 frames into upright RGB images, or refuse them with a named limit.

Order matters: every check that can be made on cheap data (string length, byte count, magic bytes,
header dimensions) runs before Pillow decodes a single pixel, so an attacker's frame costs little.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageOps

from ai.errors import ApiError

# A decompression bomb must be an error, never a warning someone might not read; our own pixel
# check below runs first, this is the backstop should AI_MAX_FRAME_PIXELS exceed Pillow's limit.
warnings.simplefilter("error", Image.DecompressionBombWarning)

ALLOWED_FORMATS = ("JPEG", "PNG")
# Multi-picture JPEGs from phones open as "MPO"; the first picture is an ordinary JPEG.
_DECODED_AS_JPEG = ("JPEG", "MPO")
_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"RIFF": "WEBP or another RIFF file",
}
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)
# What Pillow raises on truncated or corrupt data.
_UNREADABLE = (OSError, ValueError, SyntaxError, EOFError)
# Transparent pixels are laid on white, like an item on the bright demo tray.
_BACKGROUND = (255, 255, 255)


# Exif orientations that swap width and height (rotated by 90 or 270 degrees).
_TRANSPOSED = (5, 6, 7, 8)


@dataclass(frozen=True)
class FrameLimits:
    max_frames: int
    max_frame_bytes: int
    max_frame_pixels: int
    # A recognizer that works on reduced frames names its width: JPEGs are then decoded straight
    # to the smallest DCT scale (1/2, 1/4, 1/8) at least this wide, far cheaper than decoding every
    # pixel and resizing. 0: full size. `image.info["full_size"]` keeps the frame's real size,
    # which boxes are measured in.
    decode_width: int = 0


def decode_frames(frames_b64: Sequence[object], limits: FrameLimits) -> list[Image.Image]:
    """Decode every frame of one tray; the first bad frame is refused with its index."""
    if not frames_b64:
        raise ApiError(
            422, "no_frames", "frames_b64 must hold at least one frame", limit="AI_MAX_FRAMES"
        )
    if len(frames_b64) > limits.max_frames:
        raise ApiError(
            422,
            "too_many_frames",
            f"{len(frames_b64)} frames sent; at most {limits.max_frames} per request",
            limit="AI_MAX_FRAMES",
        )
    return [decode_frame(index, frame, limits) for index, frame in enumerate(frames_b64)]


def decode_frame(index: int, frame_b64: object, limits: FrameLimits) -> Image.Image:
    """One frame: base64 → bytes → JPEG/PNG → pixel-limited, upright, RGB image.

    The image keeps its text metadata in `.info` (PNG text chunks, the JPEG comment), which the
    mock recognizer reads its trigger from.
    """
    data = _base64_bytes(index, frame_b64, limits)
    image = _open(index, data, limits)
    try:
        full_size = _reduce_while_decoding(image, limits.decode_width)
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # no copy of an already upright frame
    except _BOMB as error:
        raise _too_many_pixels(index, image.size, limits) from error
    except _UNREADABLE as error:
        raise _unreadable(index, error) from error
    rgb = _to_rgb(index, image)
    rgb.info["full_size"] = full_size or rgb.size
    return rgb


def _reduce_while_decoding(image: Image.Image, width: int) -> tuple[int, int] | None:
    """Ask the JPEG decoder for a frame at least `width` wide once upright.

    Returns the frame's full size, upright, when it will come out reduced; else None.
    """
    if not width or image.format not in _DECODED_AS_JPEG:
        return None
    w, h = image.size
    transposed = image.getexif().get(0x0112) in _TRANSPOSED
    full_w, full_h = (h, w) if transposed else (w, h)
    if full_w < 2 * width:
        return None
    want_h = full_h * width // full_w
    image.draft("RGB", (want_h, width) if transposed else (width, want_h))
    return full_w, full_h


def _base64_bytes(index: int, frame_b64: object, limits: FrameLimits) -> bytes:
    if not isinstance(frame_b64, str):
        raise ApiError(
            422, "invalid_request", f"frame {index} must be a base64 string", frame=index
        )
    # `base64` wraps its output at 76 columns; line breaks are harmless, other junk is not.
    text = "".join(frame_b64.split())
    # Refuse oversized frames before allocating their decoded bytes.
    if len(text) > _base64_length(limits.max_frame_bytes):
        raise _frame_too_large(index, len(text) * 3 // 4, limits)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiError(
            400,
            "invalid_base64",
            f"frame {index} is not valid base64: {error}",
            frame=index,
            limit="base64",
        ) from error
    if len(data) > limits.max_frame_bytes:
        raise _frame_too_large(index, len(data), limits)
    if not data:
        raise ApiError(
            400,
            "invalid_image",
            f"frame {index} is empty",
            frame=index,
            limit="complete JPEG or PNG data",
        )
    return data


def _open(index: int, data: bytes, limits: FrameLimits) -> Image.Image:
    sniffed = next((name for magic, name in _MAGIC.items() if data.startswith(magic)), None)
    if sniffed not in ALLOWED_FORMATS:
        raise _unsupported(index, sniffed or "not an image format we recognize")
    try:
        image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except _BOMB as error:
        raise ApiError(
            413,
            "image_too_large",
            f"frame {index} has too many pixels: {error}",
            frame=index,
            limit="AI_MAX_FRAME_PIXELS",
        ) from error
    except _UNREADABLE as error:
        raise _unreadable(index, error) from error
    # The magic bytes only say what the file claims to be; trust what Pillow actually parsed.
    decoded_as = "JPEG" if image.format in _DECODED_AS_JPEG else image.format
    if decoded_as != sniffed:
        raise _unsupported(index, f"{image.format} inside a {sniffed} header")
    width, height = image.size
    if width < 1 or height < 1:
        raise ApiError(
            400,
            "invalid_image",
            f"frame {index} has no pixels",
            frame=index,
            limit="complete JPEG or PNG data",
        )
    if width * height > limits.max_frame_pixels:
        raise _too_many_pixels(index, image.size, limits)
    return image


def _to_rgb(index: int, image: Image.Image) -> Image.Image:
    info = dict(image.info)
    if image.mode == "P":
        # A palette may carry transparency; go through RGBA so it is laid on the background.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: scale to 8 bits instead of clipping everything above 255 to white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        try:
            image = image.convert("RGB")
        except (ValueError, OSError) as error:
            raise ApiError(
                422,
                "unsupported_image_mode",
                f"frame {index} uses pixel mode {image.mode}, which cannot become RGB",
                frame=index,
                limit="RGB-convertible pixels",
            ) from error
    image.info = info
    return image


def _base64_length(byte_count: int) -> int:
    return 4 * ((byte_count + 2) // 3)


def _frame_too_large(index: int, size: int, limits: FrameLimits) -> ApiError:
    return ApiError(
        413,
        "frame_too_large",
        f"frame {index} is {size} bytes; at most {limits.max_frame_bytes} bytes per frame",
        frame=index,
        limit="AI_MAX_FRAME_BYTES",
    )


def _too_many_pixels(index: int, size: tuple[int, int], limits: FrameLimits) -> ApiError:
    width, height = size
    return ApiError(
        413,
        "image_too_large",
        f"frame {index} is {width}x{height} = {width * height} pixels; "
        f"at most {limits.max_frame_pixels} pixels per frame",
        frame=index,
        limit="AI_MAX_FRAME_PIXELS",
    )


def _unreadable(index: int, error: BaseException) -> ApiError:
    return ApiError(
        400,
        "invalid_image",
        f"frame {index} could not be decoded: {error}",
        frame=index,
        limit="complete JPEG or PNG data",
    )


def _unsupported(index: int, what: str) -> ApiError:
    return ApiError(
        415,
        "unsupported_format",
        f"frame {index} is {what}; only JPEG and PNG",
        frame=index,
        limit="JPEG or PNG",
    )
