"""The service over HTTP in mock mode: the contract Central codes against, auth and readiness."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from ai.mock import MockRecognizer
from ai.recognizer import Candidate, Decision, Item, Recognition
from contract.answer import check_infer_answer
from tests.ai import images
from tests.ai.conftest import AUTH, SKUS, infer, wait_ready


def test_an_answer_has_the_contracts_shape(client):
    response = infer(client, [images.jpeg(), images.png()], top_k=2, request_id="req-1")

    assert response.status_code == 200
    answer = response.json()
    check_infer_answer(answer, SKUS, frame_count=2)
    assert answer["decision"] == "AUTO"
    assert answer["items"], "an AUTO tray without items would be an empty bill"
    assert answer["model_version"] == "mock-1"
    assert answer["device"] == "cpu"
    assert set(answer["timings_ms"]) >= {"decode", "total"}
    for item in answer["items"]:
        assert item["sku"] in SKUS
        assert 0.9 <= item["confidence"] <= 1
        assert len(item["candidates"]) == 2
        assert item["candidates"][0]["sku"] == item["sku"]
        assert {box["frame"] for box in item["boxes"]} == {0, 1}
        assert len(item["boxes"]) == 2 * item["count"]  # a box per piece per frame


def test_the_same_frames_give_the_same_answer(client):
    frames = [images.jpeg(images.tray((200, 120, 60))), images.png(images.tray((90, 60, 30)))]

    first = infer(client, frames).json()
    second = infer(client, frames, skus=list(reversed(SKUS))).json()

    del first["timings_ms"], second["timings_ms"]
    assert first == second


def test_different_frames_give_different_answers(client):
    answers = [
        json.dumps(infer(client, [images.png(images.tray((shade, 100, 50)))]).json()["items"])
        for shade in range(100, 260, 20)
    ]

    assert len(set(answers)) > 1


def test_a_png_marker_asks_for_review(client):
    answer = infer(client, [images.png(marker="REVIEW")]).json()

    assert answer["decision"] == "REVIEW"
    unsure = answer["items"][-1]
    assert unsure["confidence"] < 0.75
    assert unsure["sku"] in answer["reason"]


def test_a_jpeg_comment_asks_for_unknown_with_exact_items(client):
    frame = images.jpeg(comment="bakesight-mock: UNKNOWN BAGEL-PLAIN*2 CROISSANT")

    answer = infer(client, [frame]).json()

    assert answer["decision"] == "UNKNOWN"
    named = [(item["sku"], item["count"]) for item in answer["items"]]
    assert named == [("BAGEL-PLAIN", 2), ("CROISSANT", 1), (None, 1)]


def test_a_marker_with_items_gives_exactly_that_bill(client):
    frames = [images.png(), images.png(marker="AUTO CROISSANT-CHOCO*3 BAGEL-SESAME")]

    answer = infer(client, frames).json()

    assert answer["decision"] == "AUTO"
    assert [(i["sku"], i["count"]) for i in answer["items"]] == [
        ("CROISSANT-CHOCO", 3),
        ("BAGEL-SESAME", 1),
    ]


def test_a_marked_sku_outside_the_store_cannot_be_paid_automatically(client):
    answer = infer(client, [images.png(marker="AUTO BAGEL-PLAIN GHOST-BREAD*2")]).json()

    assert answer["decision"] == "UNKNOWN"
    assert [(i["sku"], i["count"]) for i in answer["items"]] == [("BAGEL-PLAIN", 1), (None, 2)]


def test_a_bad_marker_is_refused_naming_the_frame(client):
    response = infer(client, [images.png(), images.png(marker="MAYBE")])

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_mock_marker"
    assert response.json()["frame"] == 1


def test_liveness_needs_no_key(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_every_other_route_needs_the_key(client):
    for method, path in [("GET", "/ready"), ("POST", "/v1/infer"), ("GET", "/nowhere")]:
        for headers in [{}, {"X-ADMIN-KEY": "wrong"}, {"X-ADMIN-KEY": AUTH["X-ADMIN-KEY"] + "x"}]:
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"] == "unauthorized"


def test_ready_reports_model_and_device(client):
    response = client.get("/ready", headers=AUTH)

    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "model_version": "mock-1",
        "device": "cpu",
        "mock": True,
    }


class _SlowToLoad(MockRecognizer):
    def __init__(self) -> None:
        self.release = threading.Event()

    def load(self) -> None:
        self.release.wait(10)


def test_not_ready_until_the_model_is_loaded(make_client):
    recognizer = _SlowToLoad()
    client = make_client(recognizer, ready=False)

    assert client.get("/health").status_code == 200
    assert client.get("/ready", headers=AUTH).status_code == 503
    assert client.get("/ready", headers=AUTH).json()["ready"] is False
    refused = infer(client, [images.png()])
    assert refused.status_code == 503
    assert refused.json()["error"] == "not_ready"

    recognizer.release.set()
    wait_ready(client)
    assert infer(client, [images.png()]).status_code == 200


class _BrokenModel(MockRecognizer):
    def load(self) -> None:
        raise FileNotFoundError("gallery.pt not found")


def test_a_model_that_fails_to_load_says_why_on_ready(make_client):
    client = make_client(_BrokenModel(), ready=False)
    for _ in range(200):
        body = client.get("/ready", headers=AUTH).json()
        if "error" in body:
            break
        threading.Event().wait(0.01)
    assert body["ready"] is False
    assert "gallery.pt not found" in body["error"]
    assert infer(client, [images.png()]).status_code == 503
    with pytest.raises(AssertionError, match="never became ready"):
        wait_ready(client, seconds=0.2)


class _OffCatalog(MockRecognizer):
    def postprocess(self, raw, request):
        item = Item("NOT-IN-STORE", 1, 0.99, (Candidate("NOT-IN-STORE", 0.99),), ())
        return Recognition(Decision.AUTO, "sure", (item,))


def test_a_recognizer_naming_a_sku_outside_the_store_is_a_500_not_a_bill(make_client):
    client = make_client(_OffCatalog())

    response = infer(client, [images.png()])

    assert response.status_code == 500
    assert response.json()["error"] == "invalid_recognition"
    assert "NOT-IN-STORE" not in response.text


def test_mock_mode_never_imports_torch_and_is_ready_within_a_second():
    script = """
import json, sys, time
started = time.perf_counter()
from starlette.testclient import TestClient
from ai.app import create_app
from ai.settings import load_settings
app = create_app(load_settings({"AI_ADMIN_KEY": "k", "AI_MOCK_MODE": "1"}))
with TestClient(app) as client:
    while client.get("/ready", headers={"X-ADMIN-KEY": "k"}).status_code != 200:
        time.sleep(0.005)
    ready = time.perf_counter() - started
    from tests.ai import images
    answer = client.post("/v1/infer", headers={"X-ADMIN-KEY": "k"}, json={
        "frames_b64": [images.b64(images.jpeg())], "candidate_skus": ["A", "B"]}).json()
print(json.dumps({"ready_s": ready, "decision": answer["decision"],
                  "torch": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}))
"""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, check=True
    )

    report = json.loads(result.stdout.splitlines()[-1])
    assert report["decision"] == "AUTO"
    assert report["torch"] == []
    assert report["ready_s"] < 1.0


class _RefusesTheFrames(MockRecognizer):
    def preprocess(self, request):
        raise ValueError("the frames differ in size (1280x960, 640x480)")


def test_a_tray_the_recognizer_refuses_is_a_422_naming_the_problem_not_a_500(make_client):
    client = make_client(_RefusesTheFrames())

    response = infer(client, [images.png()])

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "tray_refused"
    assert "the frames differ in size (1280x960, 640x480)" in body["message"]
    assert "Traceback" not in response.text
