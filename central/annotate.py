"""Draw what the AI saw onto a tray frame: a box, the product and its confidence per item.

Items staff must look at are drawn in yellow (as BakeryScan outlines them): an item the AI could
not match (sku null), and, in a run sent to review, any item below SURE_CONFIDENCE. Items the AI
was sure of are drawn in green.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

SURE_CONFIDENCE = 0.9
# A frame is at most MAX_FRAME_BYTES, but a small PNG can expand to gigapixels: refuse to
# decode anything a tray camera would not send (a 12 MP frame is 4000 x 3000).
MAX_PIXELS = 50_000_000
SURE_RGB = (34, 197, 94)
UNSURE_RGB = (250, 204, 21)


class NotAnImage(Exception):
    """The stored frame cannot be decoded (or is too large to)."""


def is_unsure(item: Mapping[str, Any], decision: str) -> bool:
    if item.get("sku") is None:
        return True
    return decision != "AUTO" and float(item.get("confidence") or 0) < SURE_CONFIDENCE


def annotate(
    frame: bytes, frame_index: int, items: Iterable[Mapping[str, Any]], decision: str
) -> bytes:
    """The frame as a JPEG with every item's boxes in that frame drawn and labelled."""
    try:
        opened = Image.open(io.BytesIO(frame))
        if opened.width * opened.height > MAX_PIXELS:
            raise NotAnImage(f"{opened.width}x{opened.height} is over {MAX_PIXELS} pixels")
        image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise NotAnImage(str(error)) from None
    draw = ImageDraw.Draw(image)
    scale = max(image.width, image.height)
    line = max(2, scale // 250)
    font = _font(max(12, scale // 45))
    for item in items:
        colour = UNSURE_RGB if is_unsure(item, decision) else SURE_RGB
        label = f"{item.get('sku') or '?'} x{item.get('count', 1)} " + (
            f"{round(float(item.get('confidence') or 0) * 100)}%"
        )
        for box in item.get("boxes") or []:
            if box.get("frame") != frame_index:
                continue
            x1, y1, x2, y2 = (float(value) for value in box["box"])
            x1, x2 = sorted((x1, x2))
            y1, y2 = sorted((y1, y2))
            draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
            left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
            tag_h = bottom - top + 2 * line
            tag_y = y1 - tag_h if y1 - tag_h >= 0 else y1
            draw.rectangle((x1, tag_y, x1 + right - left + 2 * line, tag_y + tag_h), fill=colour)
            draw.text((x1 + line, tag_y + line - top), label, fill=(0, 0, 0), font=font)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # scalable where Pillow has FreeType
    except (OSError, TypeError):
        return ImageFont.load_default()
