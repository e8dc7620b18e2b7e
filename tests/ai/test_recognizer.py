"""The handler phases: inference, and only inference, runs inside the recognizer's context."""

from __future__ import annotations

import contextlib

from ai.mock import MockRecognizer
from ai.recognizer import Recognizer, TrayRequest, recognize
from tests.ai import images
from tests.ai.test_frames import decode


class _Recording(MockRecognizer):
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.inside = False

    @contextlib.contextmanager
    def inference_context(self):
        self.inside = True
        yield
        self.inside = False

    def preprocess(self, request):
        self.calls.append(f"preprocess inside={self.inside}")
        return super().preprocess(request)

    def inference(self, batch):
        self.calls.append(f"inference inside={self.inside}")
        return super().inference(batch)

    def postprocess(self, raw, request):
        self.calls.append(f"postprocess inside={self.inside}")
        return super().postprocess(raw, request)


def test_the_phases_run_in_order_with_inference_inside_its_context():
    recognizer = _Recording()
    request = TrayRequest([decode(images.png())], ("A", "B"), top_k=2)

    recognition = recognize(recognizer, request)

    assert recognizer.calls == [
        "preprocess inside=False",
        "inference inside=True",
        "postprocess inside=False",
    ]
    assert recognition.items
    assert "recognize" in recognition.timings_ms


def test_the_mock_is_a_recognizer():
    assert isinstance(MockRecognizer(), Recognizer)
