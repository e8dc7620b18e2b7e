"""Learning from resolved reviews, over the service's HTTP API."""

from __future__ import annotations

import pytest
from PIL import Image

from ai.mock import MockRecognizer
from tests.ai import images
from tests.ai.conftest import AUTH, infer


class Recording(MockRecognizer):
    """The mock, also keeping what it was taught, to check what the service hands over."""

    def __init__(self) -> None:
        super().__init__()
        self.taught: list[tuple[tuple[Image.Image, ...], list[tuple[str, int]]]] = []

    def learn(self, frames, items, store_id="default"):
        self.taught.append((tuple(frames), list(items)))
        return super().learn(frames, items, store_id)


def test_feedback_teaches_the_frames_of_the_tray_it_names(make_client) -> None:
    recognizer = Recording()
    client = make_client(recognizer=recognizer)
    frame = images.png(marker="REVIEW BAGEL-PLAIN")
    assert infer(client, [frame, frame], tray_id="session-1").status_code == 200
    items = [{"sku": "BAGEL-SESAME", "count": 1}]
    r = client.post("/v1/feedback", json={"tray_id": "session-1", "items": items}, headers=AUTH)
    assert r.status_code == 200 and r.json()["tray_id"] == "session-1"
    [(frames, taught)] = recognizer.taught
    assert len(frames) == 2 and taught == [("BAGEL-SESAME", 1)]
    # Learned once: the tray's frames are released.
    again = client.post("/v1/feedback", json={"tray_id": "session-1", "items": items}, headers=AUTH)
    assert again.status_code == 404 and again.json()["error"] == "tray_not_remembered"


def test_the_tray_memory_is_bounded(make_client) -> None:
    client = make_client(AI_TRAY_MEMORY="2")
    for n in range(3):
        infer(client, [images.png()], tray_id=f"t{n}")
    items = [{"sku": "SCONE", "count": 1}]
    assert (
        client.post(
            "/v1/feedback", json={"tray_id": "t0", "items": items}, headers=AUTH
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/v1/feedback", json={"tray_id": "t2", "items": items}, headers=AUTH
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "body",
    [
        {"items": [{"sku": "A", "count": 1}]},
        {"tray_id": "t", "items": []},
        {"tray_id": "t", "items": [{"sku": "A", "count": 0}]},
    ],
)
def test_bad_feedback_is_422(client, body) -> None:
    r = client.post("/v1/feedback", json=body, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
