"""Frames for the tests, built with Pillow the way a camera or a bad client would send them."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image, PngImagePlugin


def encode(image: Image.Image, fmt: str, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tray(
    color: tuple[int, int, int] = (210, 160, 90), size: tuple[int, int] = (320, 240)
) -> Image.Image:
    """A plain tray with one 'bread' on it, so different colours give different pixels."""
    image = Image.new("RGB", size, (235, 232, 225))
    image.paste(color, (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    return image


def png(image: Image.Image | None = None, marker: str | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if marker is not None:
        info.add_text("bakesight-mock", marker)
    return encode(image or tray(), "PNG", pnginfo=info)


def jpeg(image: Image.Image | None = None, comment: str | None = None, **save: object) -> bytes:
    if comment is not None:
        save["comment"] = comment.encode()
    return encode(image or tray(), "JPEG", quality=92, **save)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming width x height pixels in a few dozen bytes, as a decompression bomb does."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )
