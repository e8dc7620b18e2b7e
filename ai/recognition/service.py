"""The pipeline behind the AI service's seams: `ai.recognizer.Recognizer` and `Learner`.

The service drives TorchServe's phases (load once; preprocess → inference under
`torch.inference_mode()` → postprocess) and calls register/learn between requests, in the same
single inference thread, so the gallery never changes under a running recognition.

Every store has its own gallery. This recognizer keeps them (`StoreGalleries`, one file) and hands
the pipeline the request's store's gallery before each call; that is safe because every call runs
in that one thread. The file is written whole after every change: an entry (a photo or a learned
crop) takes about 26 KB (the demo's two stores, 151 entries: 3.9 MB), which suits a few stores;
many more would want a file per store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from PIL import Image

from ai.recognition.gallery import Gallery, StoreGalleries, storage_for
from ai.recognition.pipeline import WORK_WIDTH, Batch, Pipeline, Raw
from ai.recognizer import (
    Box,
    Candidate,
    Decision,
    Item,
    PhotoOutcome,
    Recognition,
    SeedPassesLimit,
    StoreHasNoReferences,
    TrayRequest,
)
from contract import DEFAULT_STORE, MAX_PHOTOS


class PipelineRecognizer:
    def __init__(
        self, device: str, gallery: str | None = None, embedder: str | None = None
    ) -> None:
        self._device = device
        self._gallery = gallery or None
        self._embedder = embedder or None
        self._pipeline: Pipeline | None = None
        self._stores = StoreGalleries()

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
        # The pipeline holds no file of its own: this recognizer saves every store's gallery.
        self._pipeline = Pipeline.load(self._device, None, embedder_path=self._embedder)
        data = storage_for(self._gallery).read(self._gallery) if self._gallery else None
        if data is not None:
            self._stores = StoreGalleries.from_bytes(data, DEFAULT_STORE)
        for gallery in self._stores.stores.values():
            self._pipeline.use_gallery(gallery)  # embeds a gallery again if the embedder changed
        self._use(DEFAULT_STORE)

    def store_ids(self) -> list[str]:
        """The stores that have a gallery."""
        return sorted(self._stores.stores)

    def _use(self, store_id: str, create: bool = False) -> Pipeline:
        """The pipeline, set to the store's gallery (an empty one, kept only if `create`)."""
        gallery = self._stores.stores.get(store_id)
        if gallery is None:
            gallery = Gallery(self.pipeline.embedder_id)
            if create:
                self._stores.stores[store_id] = gallery
        self.pipeline.use_gallery(gallery)
        return self.pipeline

    def _save(self) -> None:
        if self._gallery:
            storage_for(self._gallery).write(self._gallery, self._stores.to_bytes())

    def inference_context(self) -> AbstractContextManager[Any]:
        return torch.inference_mode()

    def preprocess(self, request: TrayRequest) -> Batch:
        return self._use(request.store_id).preprocess(list(request.frames), request.counter_id)

    def inference(self, batch: Batch) -> tuple[Raw, Batch]:
        return self.pipeline.inference(batch), batch

    def postprocess(self, raw: tuple[Raw, Batch], request: TrayRequest) -> Recognition:
        answer = self._use(request.store_id).postprocess(
            raw[0], raw[1], list(request.candidate_skus), request.top_k
        )
        if self.pipeline.device.type == "cuda":
            torch.cuda.synchronize(self.pipeline.device)  # honest stage timings on the GPU
        timings = {**raw[0].timings, **answer["timings_ms"]}
        return Recognition(
            Decision(answer["decision"]), answer["reason"], _items(answer["items"]), timings
        )

    def register(
        self, sku: str, photos: Sequence[Image.Image], store_id: str = DEFAULT_STORE
    ) -> Sequence[PhotoOutcome]:
        """Each reference photo with one clear item joins the store's gallery (saved where it was
        loaded from); the others are refused with their reason. Raises TooManyPhotos over the
        limit."""
        result = self._use(store_id, create=True).register(sku, list(photos))
        if result["added"]:
            self._save()
        return list(result["outcomes"])

    def photos(self, sku: str, store_id: str = DEFAULT_STORE) -> Sequence[Mapping[str, Any]]:
        return self._use(store_id).photos(sku)

    def delete_photo(self, sku: str, photo_id: str, store_id: str = DEFAULT_STORE) -> bool:
        deleted = self._use(store_id).delete_photo(sku, photo_id)
        if deleted:
            self._save()
        return deleted

    def seed(
        self, store_id: str, from_store_id: str, skus: Sequence[str] | None = None
    ) -> Mapping[str, int]:
        """Copy the source store's reference photos (embeddings, crops, ids) into the store."""
        source = self._stores.stores.get(from_store_id) or Gallery(self.pipeline.embedder_id)
        wanted = list(skus) if skus is not None else source.sku_list
        wanted = [sku for sku in wanted if skus is not None or source.references(sku)]
        if not any(source.references(sku) for sku in wanted):
            raise StoreHasNoReferences(from_store_id)
        target = self._stores.stores.get(store_id) or Gallery(self.pipeline.embedder_id)
        over = {
            sku: (had, new)
            for sku in wanted
            if (had := target.count(sku, "reference"))
            + (new := target.missing_references(source, sku))
            > MAX_PHOTOS
        }
        if over:
            raise SeedPassesLimit(over, MAX_PHOTOS)
        pipeline = self._use(store_id, create=True)
        copied = {sku: pipeline.gallery.copy_references(source, sku) for sku in wanted}
        if any(copied.values()):
            pipeline.use_gallery(pipeline.gallery, changed=True)
            self._save()
        return copied

    def capture_background(
        self, counter_id: str, frames: Sequence[Image.Image], store_id: str = DEFAULT_STORE
    ) -> Mapping[str, Any]:
        """Store the counter's empty tray; ValueError names what is wrong with the frames."""
        result = self._use(store_id, create=True).capture_background(counter_id, list(frames))
        self._save()
        return result

    def learn(
        self,
        frames: Sequence[Image.Image],
        items: Sequence[tuple[str, int]],
        store_id: str = DEFAULT_STORE,
    ) -> Mapping[str, Any]:
        corrected = [{"sku": sku, "count": count} for sku, count in items]
        pipeline = self._use(store_id, create=True)
        result = pipeline.learn_from_review(list(frames), corrected)
        if result["added"]:
            self._save()
        return {**result, "model_version": pipeline.model_version}


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
