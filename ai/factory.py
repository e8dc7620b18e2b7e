"""Build the recognizer the settings ask for: the mock, or the real pipeline from `ai.recognition`.

The real pipeline (issue 6) plugs in by exposing, in `ai/recognition/__init__.py`:

    def create_recognizer(device: str) -> ai.recognizer.Recognizer

returning an object that has not loaded anything yet; the service calls `load()` in its lifespan.
"""

from __future__ import annotations

import importlib
import importlib.util

from ai.recognizer import Recognizer
from ai.settings import Settings


class PipelineMissing(RuntimeError):
    pass


def build_recognizer(settings: Settings) -> Recognizer:
    if settings.mock_mode:
        from ai.mock import MockRecognizer

        return MockRecognizer()
    return build_real_recognizer(
        settings.device, settings.gallery, settings.embedder, settings.torch_threads
    )


def real_pipeline_available() -> bool:
    return importlib.util.find_spec("ai.recognition") is not None


def build_real_recognizer(
    device_preference: str,
    gallery: str | None = None,
    embedder: str | None = None,
    torch_threads: int = 0,
) -> Recognizer:
    """The real pipeline on its device: AI_DEVICE, or CUDA when visible, else the CPU."""
    if not real_pipeline_available():
        raise PipelineMissing(
            "the real recognition pipeline (ai.recognition) is not installed; "
            "set AI_MOCK_MODE=1 to serve the mock"
        )
    from ai.device import select_device

    recognition = importlib.import_module("ai.recognition")
    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    return recognition.create_recognizer(
        device=select_device(device_preference), gallery=gallery, embedder=embedder
    )
