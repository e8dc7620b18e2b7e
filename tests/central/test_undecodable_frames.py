"""A frame that is not a decodable image is the client's error: 422, no run, no staff review."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image
from starlette.testclient import TestClient

from testkit.ai_standin import AiStandIn


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height pixels, with a few bytes of image data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _noisy_jpeg() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((256, 256), 64).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


BAD_FRAMES = {
    "truncated jpeg": (_noisy_jpeg()[:3000], "undecodable_frame"),
    "jpeg signature then garbage": (b"\xff\xd8\xff\xe0" + b"\x01" * 4000, "undecodable_frame"),
    "png signature then garbage": (b"\x89PNG\r\n\x1a\n" + b"\x02" * 100, "undecodable_frame"),
    "decompression bomb header": (_png_header_claiming(100_000, 100_000), "frame_too_many_pixels"),
    "truncated png": (_png_header_claiming(64, 64), "undecodable_frame"),
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMES))
def test_an_undecodable_frame_is_a_422_and_no_review(
    client: TestClient, session_uuid: str, ai: AiStandIn, name: str
) -> None:
    raw, code = BAD_FRAMES[name]
    before = len(ai.requests)
    frames = [base64.b64encode(raw).decode()]
    r = client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": frames})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == code and r.json()["frame"] == 0
    assert "frames_b64[0]" in r.json()["message"]
    assert len(ai.requests) == before
    session = client.get(f"/api/v1/tray-sessions/{session_uuid}").json()
    assert session["runs"] == [] and session["reviews"] == []


def test_a_whole_jpeg_still_reaches_the_ai(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    frames = [base64.b64encode(_noisy_jpeg()).decode()]
    r = client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": frames})
    assert r.status_code == 201, r.text
    assert ai.requests[-1]["body"]["frames_b64"] == frames


def test_an_undecodable_product_photo_is_a_422(client: TestClient, store: dict) -> None:
    first = client.get(f"/api/v1/stores/{store['id']}/products").json()["items"][0]["sku"]
    photos = [base64.b64encode(_noisy_jpeg()[:3000]).decode()]
    r = client.post(
        f"/api/v1/stores/{store['id']}/products/{first}/photos", json={"photos_b64": photos}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "undecodable_frame" and r.json()["field"] == "photos_b64"
