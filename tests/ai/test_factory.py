"""The seam for the real pipeline: `ai.recognition.create_recognizer(device)`, device at start."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import pytest
import torch
from starlette.testclient import TestClient

from ai.app import create_app
from ai.device import DeviceError, select_device
from ai.mock import MockRecognizer
from ai.settings import load_settings
from tests.ai import images
from tests.ai.conftest import AUTH, SKUS, infer, wait_ready


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def one_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_auto_is_the_cpu_when_cuda_is_not_visible(no_cuda):
    assert select_device("auto") == "cpu"


def test_auto_is_the_first_gpu_when_cuda_is_visible(one_cuda):
    assert select_device("auto") == "cuda:0"
    assert select_device("cuda") == "cuda:0"
    assert select_device("cpu") == "cpu"


def test_asking_for_a_gpu_that_is_not_there_is_an_error(no_cuda):
    with pytest.raises(DeviceError, match="AI_DEVICE=cuda:0"):
        select_device("cuda:0")


def test_asking_for_a_second_gpu_on_a_one_gpu_machine_is_an_error(one_cuda):
    with pytest.raises(DeviceError, match="1 CUDA device"):
        select_device("cuda:1")


class _PluggedPipeline(MockRecognizer):
    model_version = "gallery-test"

    def __init__(self, device: str) -> None:
        self.device = device
        self.loads = 0

    def load(self) -> None:
        self.loads += 1


def test_without_mock_mode_the_service_runs_ai_recognition_on_the_chosen_device(
    monkeypatch, no_cuda
):
    built: list[_PluggedPipeline] = []
    module = types.ModuleType("ai.recognition")
    module.__spec__ = importlib.machinery.ModuleSpec("ai.recognition", None)
    asked: list[dict[str, object]] = []

    def create_recognizer(device: str, **options: object) -> _PluggedPipeline:
        asked.append(options)
        built.append(_PluggedPipeline(device))
        return built[-1]

    module.create_recognizer = create_recognizer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ai.recognition", module)

    app = create_app(load_settings({"AI_ADMIN_KEY": AUTH["X-ADMIN-KEY"], "AI_MOCK_MODE": "0"}))
    with TestClient(app) as client:
        wait_ready(client)
        ready = client.get("/ready", headers=AUTH).json()
        answer = infer(client, [images.png()], skus=SKUS).json()

    assert [pipeline.device for pipeline in built] == ["cpu"]
    assert asked == [{"gallery": "var/ai/gallery.pt", "embedder": ""}]  # the settings' defaults
    assert built[0].loads == 1
    assert ready == {"ready": True, "model_version": "gallery-test", "device": "cpu", "mock": False}
    assert (answer["model_version"], answer["device"]) == ("gallery-test", "cpu")
