"""Frame decoding: each bad input is a 4xx naming the frame and the limit; odd images become RGB."""

from __future__ import annotations

import pytest
from PIL import Image

from ai.frames import FrameLimits, decode_frame
from tests.ai import images
from tests.ai.conftest import AUTH, SKUS, infer

LIMITS = FrameLimits(max_frames=4, max_frame_bytes=8 * 1024 * 1024, max_frame_pixels=4096 * 4096)


def assert_refused(response, status: int, error: str, frame: int | None, limit: str | None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body.get("frame") == frame  # absent where no one frame is at fault
    assert body.get("limit") == limit
    assert body["message"]
    assert "Traceback" not in response.text


def test_bad_base64_names_the_frame(client):
    response = infer(client, [images.png(), "not base64 at all!"])

    assert_refused(response, 400, "invalid_base64", 1, "base64")


def test_base64_wrapped_in_lines_is_accepted(client):
    encoded = images.b64(images.png())
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + "\n"

    assert infer(client, [wrapped]).status_code == 200
    assert infer(client, [encoded[:100] + "*" + encoded[100:]]).status_code == 400


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (images.encode(images.tray(), "GIF"), "GIF"),
        (images.encode(images.tray(), "BMP"), "BMP"),
        (images.encode(images.tray(), "WEBP"), "WEBP"),
        (images.encode(images.tray(), "TIFF"), "TIFF"),
        (b"%PDF-1.7 not a picture", "not an image format"),
    ],
)
def test_only_jpeg_and_png_are_accepted(client, data, what):
    response = infer(client, [images.jpeg(), images.png(), data])

    assert_refused(response, 415, "unsupported_format", 2, "JPEG or PNG")
    assert what in response.json()["message"]


def test_a_png_signature_on_garbage_is_refused(client):
    response = infer(client, [b"\x89PNG\r\n\x1a\n" + b"\x00" * 200])

    assert_refused(response, 400, "invalid_image", 0, "complete JPEG or PNG data")


def test_a_truncated_jpeg_is_refused(client):
    whole = images.jpeg(images.tray(size=(640, 480)))

    response = infer(client, [images.png(), whole[: len(whole) // 2]])

    assert_refused(response, 400, "invalid_image", 1, "complete JPEG or PNG data")
    assert "truncated" in response.json()["message"]


def test_a_truncated_png_is_refused(client):
    whole = images.png(images.tray(size=(640, 480)))

    assert_refused(
        infer(client, [whole[:-40]]), 400, "invalid_image", 0, "complete JPEG or PNG data"
    )


def test_an_empty_frame_is_refused(client):
    assert_refused(infer(client, [""]), 400, "invalid_image", 0, "complete JPEG or PNG data")


@pytest.mark.parametrize("side", [5000, 20000])  # 20000² is past Pillow's own bomb error
def test_a_decompression_bomb_is_an_error_before_any_pixel_is_decoded(client, side):
    response = infer(client, [images.png(), images.png_header_only(side, side)])

    assert_refused(response, 413, "image_too_large", 1, "AI_MAX_FRAME_PIXELS")


def test_the_pixel_limit_comes_from_the_environment(make_client):
    client = make_client(AI_MAX_FRAME_PIXELS="10000")

    response = infer(client, [images.png(images.tray(size=(120, 80))), images.png()])

    assert_refused(response, 413, "image_too_large", 1, "AI_MAX_FRAME_PIXELS")
    assert "320x240" in response.json()["message"]


def test_too_many_frames_are_refused(make_client):
    client = make_client(AI_MAX_FRAMES="2")

    response = infer(client, [images.png()] * 3)

    assert_refused(response, 422, "too_many_frames", None, "AI_MAX_FRAMES")


def test_no_frames_are_refused(client):
    assert_refused(infer(client, []), 422, "no_frames", None, "AI_MAX_FRAMES")


def test_a_frame_over_the_byte_limit_is_refused(make_client):
    client = make_client(AI_MAX_FRAME_BYTES="20000")
    big = images.png(Image.effect_noise((200, 200), 60).convert("RGB"))
    assert len(big) > 20000

    response = infer(client, [images.png(), big])

    assert_refused(response, 413, "frame_too_large", 1, "AI_MAX_FRAME_BYTES")


def test_a_body_over_the_size_limit_is_refused(make_client):
    client = make_client(AI_MAX_BODY_BYTES="50000")
    body = '{"frames_b64": ["' + "A" * 60000 + '"], "candidate_skus": ["X"]}'

    declared = client.post("/v1/infer", content=body, headers=AUTH)

    def chunks():
        yield body[:30000].encode()
        yield body[30000:].encode()

    streamed = client.post("/v1/infer", content=chunks(), headers=AUTH)  # no Content-Length

    for response in (declared, streamed):
        assert_refused(response, 413, "body_too_large", None, "AI_MAX_BODY_BYTES")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[]", "invalid_request"),
        (b'{"candidate_skus": ["A"]}', "invalid_request"),
        (b'{"frames_b64": "abc", "candidate_skus": ["A"]}', "invalid_request"),
        (b'{"frames_b64": [1], "candidate_skus": ["A"]}', "invalid_request"),
        (b'{"frames_b64": [], "candidate_skus": []}', "invalid_request"),
        (b'{"frames_b64": [], "candidate_skus": [""]}', "invalid_request"),
        (b'{"frames_b64": [], "candidate_skus": ["A"], "top_k": 0}', "invalid_request"),
        (b'{"frames_b64": [], "candidate_skus": ["A"], "top_k": true}', "invalid_request"),
        (b'{"frames_b64": [], "candidate_skus": ["A"], "request_id": 7}', "invalid_request"),
    ],
)
def test_malformed_requests_get_a_json_4xx(client, body, error):
    response = client.post("/v1/infer", content=body, headers=AUTH)

    assert 400 <= response.status_code < 500
    assert response.json()["error"] == error


def test_odd_but_valid_images_are_answered(client):
    rgba = images.tray().convert("RGBA")
    frames = [
        images.jpeg(images.tray().convert("CMYK")),
        images.png(images.tray().convert("P")),
        images.png(rgba),
        images.png(images.tray().convert("L")),
    ]

    response = infer(client, frames, skus=SKUS)

    assert response.status_code == 200
    assert {box["frame"] for item in response.json()["items"] for box in item["boxes"]} == {
        0,
        1,
        2,
        3,
    }


# Pixel-level checks of the normalisation, straight on the decoder.


def decode(data: bytes) -> Image.Image:
    return decode_frame(0, images.b64(data), LIMITS)


def test_cmyk_jpeg_becomes_rgb_with_its_colours():
    orange = Image.new("RGB", (64, 64), (230, 120, 20))

    frame = decode(images.jpeg(orange.convert("CMYK")))

    assert frame.mode == "RGB"
    assert all(abs(a - b) <= 12 for a, b in zip(_rgb(frame, (32, 32)), (230, 120, 20), strict=True))


def test_palette_png_with_transparency_lies_on_white():
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([0, 0, 0, 200, 50, 50])
    palette.putpixel((5, 5), 1)

    frame = decode(images.encode(palette, "PNG", transparency=0))

    assert frame.mode == "RGB"
    assert _rgb(frame, (0, 0)) == (255, 255, 255)
    assert _rgb(frame, (5, 5)) == (200, 50, 50)


def test_alpha_is_composited_on_white():
    image = Image.new("RGBA", (10, 10), (0, 0, 255, 0))
    image.putpixel((3, 3), (0, 0, 255, 255))
    image.putpixel((4, 4), (0, 0, 0, 128))

    frame = decode(images.png(image))

    assert frame.mode == "RGB"
    assert _rgb(frame, (0, 0)) == (255, 255, 255)
    assert _rgb(frame, (3, 3)) == (0, 0, 255)
    assert all(120 <= channel <= 135 for channel in _rgb(frame, (4, 4)))


def test_grayscale_and_grayscale_alpha_become_rgb():
    gray = Image.new("L", (8, 8), 90)

    assert decode(images.png(gray)).getpixel((1, 1)) == (90, 90, 90)
    assert decode(images.jpeg(gray)).mode == "RGB"
    assert decode(images.png(Image.merge("LA", [gray, Image.new("L", (8, 8), 255)]))).getpixel(
        (1, 1)
    ) == (90, 90, 90)


def test_16_bit_grayscale_is_scaled_not_clipped():
    deep = Image.new("I;16", (8, 8), 32768)

    assert decode(images.png(deep)).getpixel((1, 1)) == (128, 128, 128)


def test_exif_orientation_is_applied():
    # A camera held sideways: a 60x40 sensor picture, red left edge, tagged "rotate 90° CW".
    sensor = Image.new("RGB", (60, 40), (255, 255, 255))
    sensor.paste((255, 0, 0), (0, 0, 10, 40))
    exif = Image.Exif()
    exif[0x0112] = 6

    frame = decode(images.jpeg(sensor, exif=exif.tobytes()))

    assert frame.size == (40, 60)
    red, green, blue = _rgb(frame, (20, 3))  # the left edge is now the top edge
    assert red > 200 and green < 60 and blue < 60


def test_text_metadata_survives_decoding_for_the_mock_trigger():
    frame = decode(images.png(images.tray().convert("P"), marker="REVIEW"))

    assert frame.info["bakesight-mock"] == "REVIEW"


def test_a_jpeg_frame_decodes_to_its_own_pixels():
    image = Image.new("RGB", (32, 16), (10, 200, 30))

    frame = decode(images.jpeg(image))

    assert frame.size == (32, 16)
    assert all(abs(a - b) <= 6 for a, b in zip(_rgb(frame, (5, 5)), (10, 200, 30), strict=True))


REDUCING = FrameLimits(4, 8 * 1024 * 1024, 4096 * 4096, decode_width=640)


def test_a_recognizer_that_works_reduced_gets_reduced_jpegs_and_their_real_size():
    camera = images.tray(size=(1280, 960))

    frame = decode_frame(0, images.b64(images.jpeg(camera)), REDUCING)

    assert frame.size == (640, 480)
    assert frame.info["full_size"] == (1280, 960)  # boxes are answered in these pixels
    assert _rgb(frame, (200, 150)) == pytest.approx((210, 160, 90), abs=8)  # the bread


def test_a_sideways_jpeg_is_reduced_to_the_working_width_once_upright():
    sensor = Image.new("RGB", (1600, 1280), (235, 232, 225))
    sensor.paste((255, 0, 0), (0, 0, 100, 1280))  # the left edge: the top once upright
    exif = Image.Exif()
    exif[0x0112] = 6

    frame = decode_frame(0, images.b64(images.jpeg(sensor, exif=exif.tobytes())), REDUCING)

    assert frame.size == (640, 800)
    assert frame.info["full_size"] == (1280, 1600)
    red, green, blue = _rgb(frame, (320, 10))
    assert red > 200 and green < 60 and blue < 60


@pytest.mark.parametrize("fmt", ["PNG", "small JPEG"])
def test_frames_that_cannot_be_reduced_by_the_decoder_keep_their_size(fmt):
    data = (
        images.png(images.tray(size=(1280, 960)))
        if fmt == "PNG"
        else images.jpeg(images.tray(size=(1000, 750)))  # under twice the working width
    )

    frame = decode_frame(0, images.b64(data), REDUCING)

    assert frame.size == frame.info["full_size"] == ((1280, 960) if fmt == "PNG" else (1000, 750))


def _rgb(frame: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    """The pixel's channels (getpixel is typed for every mode; these frames are RGB)."""
    pixel = frame.getpixel(xy)
    assert isinstance(pixel, tuple)
    return pixel
