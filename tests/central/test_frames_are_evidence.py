"""Every frame a counter sends is kept as received; staff see it, with the AI's boxes drawn."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image
from starlette.testclient import TestClient

from tests.central.conftest import ADMIN_KEY
from tests.support.ai_standin import AiStandIn, answer

YELLOW = (250, 204, 21)
GREEN = (34, 197, 94)


def photo_b64(size: tuple[int, int] = (320, 240), kind: str = "JPEG") -> str:
    image = Image.new("RGB", size, (90, 60, 40))
    out = io.BytesIO()
    image.save(out, format=kind)
    return base64.b64encode(out.getvalue()).decode()


def _infer(client: TestClient, session_uuid: str, frames: list[str]) -> dict:
    r = client.post(f"/api/v1/tray-sessions/{session_uuid}/infer", json={"frames_b64": frames})
    assert r.status_code == 201, r.text
    return r.json()


def _near(pixel: Any, colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(pixel[:3], colour, strict=True))


def test_frames_are_served_exactly_as_sent(
    client: TestClient, session_uuid: str, tray_archive: Path
) -> None:
    frames = [photo_b64(), photo_b64((200, 100), "PNG")]
    run = _infer(client, session_uuid, frames)["run"]
    assert [f["image"] for f in run["frames"]] == [
        f"/api/v1/runs/{run['id']}/frames/0",
        f"/api/v1/runs/{run['id']}/frames/1",
    ]
    for index, sent in enumerate(frames):
        got = client.get(run["frames"][index]["image"])
        assert got.status_code == 200
        assert got.content == base64.b64decode(sent)
        assert got.headers["content-type"] == ("image/jpeg" if index == 0 else "image/png")
    assert len(list(tray_archive.rglob("frame-*"))) == 2
    # the session view lists them too, so a dispute finds them from the tray
    shown = client.get(f"/api/v1/tray-sessions/{session_uuid}").json()["runs"][0]
    assert shown["frames"] == run["frames"]


def test_annotated_frame_outlines_unsure_items_in_yellow(
    client: TestClient, session_uuid: str, ai: AiStandIn
) -> None:
    ai.answer = answer("REVIEW", [("SCONE", 1, 0.97), ("CROISSANT", 2, 0.41)])
    ai.answer["items"][0]["boxes"] = [{"frame": 0, "box": [20, 60, 140, 200]}]
    ai.answer["items"][1]["boxes"] = [{"frame": 0, "box": [180, 60, 300, 200]}]
    run = _infer(client, session_uuid, [photo_b64()])["run"]
    r = client.get(run["frames"][0]["annotated"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(r.content)).convert("RGB")
    assert image.size == (320, 240)
    assert _near(image.getpixel((20, 150)), GREEN)  # the sure scone's left edge
    assert _near(image.getpixel((180, 150)), YELLOW)  # the unsure croissant's left edge
    assert _near(image.getpixel((240, 150)), (90, 60, 40))  # inside a box: the tray untouched


def test_frames_need_a_key(client: TestClient, session_uuid: str) -> None:
    run = _infer(client, session_uuid, [photo_b64()])["run"]
    for url in run["frames"][0].values():
        r = client.get(url, headers={"X-ADMIN-KEY": "wrong-key-123"})
        assert r.status_code == 401
    assert client.get(run["frames"][0]["image"], headers={"X-ADMIN-KEY": ADMIN_KEY}).is_success


def test_a_frame_that_is_not_there_is_a_clear_404(client: TestClient, session_uuid: str) -> None:
    run = _infer(client, session_uuid, [photo_b64()])["run"]
    r = client.get(f"/api/v1/runs/{run['id']}/frames/3")
    assert r.status_code == 404 and r.json()["error"] == "frame_not_archived"
    assert client.get("/api/v1/runs/999999999/frames/0").status_code == 404
    huge = client.get(f"/api/v1/runs/{10**30}/frames/{10**30}/annotated")
    assert huge.status_code == 404 and huge.json()["error"] == "not_found"


def test_a_failed_archive_write_never_blocks_the_decision(
    make_client, store: dict, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    client = make_client(TRAY_ARCHIVE=str(blocker))
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "c"}
    ).json()
    body = _infer(client, session["uuid"], [photo_b64()])
    assert body["run"]["decision"] == "AUTO" and body["payable"] is True
    assert body["run"]["frames"] == []
    paid = client.post(
        f"/api/v1/tray-sessions/{session['uuid']}/checkout", json={"payment_status": "PAID"}
    )
    assert paid.status_code == 201
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("central_tray_archive_failures_total{")
    ]
    assert sum(counted) == 1.0


def test_a_frame_deleted_from_the_archive_is_gone_not_an_error(
    client: TestClient, session_uuid: str, tray_archive: Path
) -> None:
    run = _infer(client, session_uuid, [photo_b64()])["run"]
    for path in tray_archive.rglob("frame-*"):
        path.unlink()  # as the bucket's 14-day lifecycle does
    r = client.get(run["frames"][0]["annotated"])
    assert r.status_code == 410 and r.json()["error"] == "frame_expired"
