"""A counter's empty tray captured over the service's HTTP API; trays that name their counter."""

from __future__ import annotations

import pytest

from ai.mock import MockRecognizer
from tests.ai import images
from tests.ai.conftest import AUTH, infer


class _Recording(MockRecognizer):
    """The mock, also keeping the counter each tray named."""

    def __init__(self) -> None:
        super().__init__()
        self.counters: list[str | None] = []

    def preprocess(self, request):
        self.counters.append(request.counter_id)
        return super().preprocess(request)


def empty_tray() -> str:
    return images.b64(images.jpeg(images.tray((235, 232, 225))))


def capture(client, frames: list[str], counter: str = "counter-1"):
    return client.post(
        f"/v1/counters/{counter}/background", json={"frames_b64": frames}, headers=AUTH
    )


def test_a_counters_empty_tray_is_captured(make_client) -> None:
    recognizer = _Recording()
    client = make_client(recognizer)

    response = capture(client, [empty_tray(), empty_tray()])

    assert response.status_code == 201, response.text
    assert response.json()["counter_id"] == "counter-1"
    assert response.json()["frames"] == 2
    assert recognizer.backgrounds == {("default", "counter-1"): 2}


def test_frames_the_recognizer_cannot_use_are_422_naming_the_problem(client) -> None:
    marked = images.b64(images.png(marker="REFUSE items are on the tray"))

    response = capture(client, [empty_tray(), marked])

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_background"
    assert response.json()["message"] == "frame 1: items are on the tray"
    assert response.json()["counter_id"] == "counter-1"


def test_frames_of_different_sizes_are_422(client) -> None:
    small = images.b64(images.png(images.tray(size=(160, 120))))

    response = capture(client, [empty_tray(), small])

    assert response.status_code == 422
    assert "differ in size" in response.json()["message"]


@pytest.mark.parametrize(
    ("counter", "body", "status", "error"),
    [
        ("counter 1", None, 422, "invalid_counter_id"),
        ("-counter", None, 422, "invalid_counter_id"),
        ("c" * 65, None, 422, "invalid_counter_id"),
        ("counter-1", {"frames": []}, 422, "invalid_request"),
        ("counter-1", {"frames_b64": []}, 422, "no_frames"),
        ("counter-1", {"frames_b64": ["x"] * 5}, 422, "too_many_frames"),
        (
            "counter-1",
            {"frames_b64": [images.b64(b"GIF89a" + b"\0" * 20)]},
            415,
            "unsupported_format",
        ),
    ],
)
def test_bad_captures_are_refused(client, counter, body, status, error) -> None:
    body = body if body is not None else {"frames_b64": [empty_tray()]}
    response = client.post(f"/v1/counters/{counter}/background", json=body, headers=AUTH)

    assert response.status_code == status, response.text
    assert response.json()["error"] == error


def test_a_tray_names_its_counter_to_the_recognizer(make_client) -> None:
    recognizer = _Recording()
    client = make_client(recognizer)

    assert infer(client, [images.png()], counter_id="counter-7").status_code == 200
    assert infer(client, [images.png()]).status_code == 200

    assert recognizer.counters == ["counter-7", None]


@pytest.mark.parametrize("counter", ["", "counter 1", "c" * 65, 7, "../etc"])
def test_a_bad_counter_id_on_a_tray_is_422(client, counter) -> None:
    response = infer(client, [images.png()], counter_id=counter)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_counter_id"
    assert response.json()["limit"] == "COUNTER_ID_PATTERN"


def test_capture_needs_the_key(client) -> None:
    response = client.post("/v1/counters/counter-1/background", json={"frames_b64": []})
    assert response.status_code == 401
