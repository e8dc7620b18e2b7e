"""The pipeline behind the AI service's seams: `ai.recognizer.Recognizer` and `Learner`.

The service drives TorchServe's phases (load once; preprocess → inference under
`torch.inference_mode()` → postprocess) and calls register/learn between requests, in the same
single inference thread, so the gallery never changes under a running recognition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from PIL import Image

from ai.recognition.pipeline import WORK_WIDTH, Batch, Pipeline, Raw
from ai.recognizer import (
    Box,
    Candidate,
    Decision,
    Item,
    PhotoOutcome,
    Recognition,
    TrayRequest,
)


class PipelineRecognizer:
    def __init__(
        self, device: str, gallery: str | None = None, embedder: str | None = None
    ) -> None:
        self._device = device
        self._gallery = gallery or None
        self._embedder = embedder or None
        self._pipeline: Pipeline | None = None

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise RuntimeError("the pipeline is not loaded yet")
        return self._pipeline

    @property
    def model_version(self) -> str:
        return self._pipeline.model_version if self._pipeline else "not-loaded"

    @property
    def device(self) -> str:
        return self._pipeline.device_name if self._pipeline else self._device

    @property
    def decode_width(self) -> int:
        return WORK_WIDTH

    def load(self) -> None:
        self._pipeline = Pipeline.load(self._device, self._gallery, embedder_path=self._embedder)

    def inference_context(self) -> AbstractContextManager[Any]:
        return torch.inference_mode()

    def preprocess(self, request: TrayRequest) -> Batch:
        return self.pipeline.preprocess(list(request.frames), request.counter_id)

    def inference(self, batch: Batch) -> tuple[Raw, Batch]:
        return self.pipeline.inference(batch), batch

    def postprocess(self, raw: tuple[Raw, Batch], request: TrayRequest) -> Recognition:
        answer = self.pipeline.postprocess(
            raw[0], raw[1], list(request.candidate_skus), request.top_k
        )
        if self.pipeline.device.type == "cuda":
            torch.cuda.synchronize(self.pipeline.device)  # honest stage timings on the GPU
        timings = {**raw[0].timings, **answer["timings_ms"]}
        return Recognition(
            Decision(answer["decision"]), answer["reason"], _items(answer["items"]), timings
        )

    def register(self, sku: str, photos: Sequence[Image.Image]) -> Sequence[PhotoOutcome]:
        """Each reference photo with one clear item joins the gallery (saved where it was loaded
        from); the others are refused with their reason. Raises TooManyPhotos over the limit."""
        return list(self.pipeline.register(sku, list(photos))["outcomes"])

    def photos(self, sku: str) -> Sequence[Mapping[str, Any]]:
        return self.pipeline.photos(sku)

    def delete_photo(self, sku: str, photo_id: str) -> bool:
        return self.pipeline.delete_photo(sku, photo_id)

    def capture_background(
        self, counter_id: str, frames: Sequence[Image.Image]
    ) -> Mapping[str, Any]:
        """Store the counter's empty tray; ValueError names what is wrong with the frames."""
        return self.pipeline.capture_background(counter_id, list(frames))

    def learn(
        self, frames: Sequence[Image.Image], items: Sequence[tuple[str, int]]
    ) -> Mapping[str, Any]:
        corrected = [{"sku": sku, "count": count} for sku, count in items]
        result = self.pipeline.learn_from_review(list(frames), corrected)
        return {**result, "model_version": self.pipeline.model_version}


def _items(raw_items: list[dict[str, Any]]) -> tuple[Item, ...]:
    return tuple(
        Item(
            sku=item["sku"],
            count=int(item["count"]),
            confidence=float(item["confidence"]),
            candidates=tuple(Candidate(c["sku"], float(c["score"])) for c in item["candidates"]),
            boxes=tuple(_box(b) for b in item["boxes"]),
        )
        for item in raw_items
    )


def _box(raw: dict[str, Any]) -> Box:
    x0, y0, x1, y1 = (int(v) for v in raw["box"])
    return Box(int(raw["frame"]), (x0, y0, x1, y1))


def create_recognizer(
    device: str, gallery: str | None = None, embedder: str | None = None
) -> PipelineRecognizer:
    """The real pipeline, not loaded yet: the service loads it in its lifespan."""
    return PipelineRecognizer(device, gallery, embedder)
