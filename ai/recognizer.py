"""The seam between the HTTP service and whatever recognizes a tray.

A recognizer follows TorchServe's handler phases: `load` once (weights, gallery, device), then per
request `preprocess` → `inference` → `postprocess`. The service drives the phases through
`recognize()`, which runs `inference` inside the recognizer's own `inference_context()` — for a
torch pipeline `torch.inference_mode()`, for the mock a no-op — so this module never imports torch.

The mock (`ai.mock.MockRecognizer`) implements it; the real pipeline comes from `ai.recognition`,
which `ai.factory.build_recognizer` loads.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from contract import DEFAULT_STORE


class Decision(StrEnum):
    AUTO = "AUTO"  # the tray may be paid without staff
    REVIEW = "REVIEW"  # staff must confirm
    UNKNOWN = "UNKNOWN"  # something on the tray matched no candidate


@dataclass(frozen=True)
class TrayRequest:
    """What a recognizer gets: the decoded frames of one tray and the store's SKUs."""

    # RGB and EXIF-upright (numpy.asarray(frame) is uint8 HxWx3); `.info` keeps text metadata.
    frames: Sequence[Image.Image]
    candidate_skus: tuple[str, ...]  # the only SKUs an answer may name
    top_k: int  # how many ranked candidates per item
    # The counter whose empty tray was captured (Learner.capture_background); None: estimate the
    # tray from the frames themselves.
    counter_id: str | None = None
    # Whose gallery the tray is matched against: every store has its own reference photos.
    store_id: str = DEFAULT_STORE


@dataclass(frozen=True)
class Candidate:
    sku: str
    score: float


@dataclass(frozen=True)
class Box:
    frame: int  # index into TrayRequest.frames
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in that frame's pixels


@dataclass(frozen=True)
class Item:
    sku: str | None  # None: matched no candidate (never in an AUTO answer)
    count: int
    confidence: float  # in [0, 1]
    candidates: tuple[Candidate, ...]  # best first, at most top_k
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class Recognition:
    """A recognizer's answer: the contract's items, decision and reason, and its stage timings."""

    decision: Decision
    reason: str
    items: tuple[Item, ...]
    timings_ms: Mapping[str, float] = field(default_factory=dict)  # e.g. segment, embed, match


@runtime_checkable
class Recognizer(Protocol):
    @property
    def model_version(self) -> str: ...

    @property
    def device(self) -> str:
        """Where inference runs: "cpu", "cuda:0"."""
        ...

    @property
    def decode_width(self) -> int:
        """Frames need be no wider than this (JPEGs are decoded reduced); 0: full frames."""
        ...

    def load(self) -> None:
        """Load weights and gallery; called once, in a worker thread, before any request."""

    def preprocess(self, request: TrayRequest) -> Any:
        """Frames to model input (e.g. segment and crop items into tensors on the device).

        Raises ValueError naming the problem when the frames cannot be one tray (the service
        answers it as a 422, the client's to fix): e.g. frames of different sizes.
        """

    def inference(self, batch: Any) -> Any:
        """Run the model; called inside `inference_context()`."""

    def postprocess(self, raw: Any, request: TrayRequest) -> Recognition:
        """Model output to the answer: match, fuse frames, decide."""
        ...

    def inference_context(self) -> AbstractContextManager[Any]:
        """`torch.inference_mode()` for a torch pipeline; `contextlib.nullcontext()` otherwise."""
        ...


@dataclass(frozen=True)
class PhotoOutcome:
    """What became of one reference photo: added (with its id) or refused (with the reason)."""

    index: int  # the photo's position in the request
    photo_id: str | None = None  # set when the photo joined the gallery
    reason: str | None = None  # set when it did not: "no item found", "several items", ...

    @property
    def added(self) -> bool:
        return self.photo_id is not None


class TooManyPhotos(Exception):
    """Registering would pass the per-product limit of reference photos; nothing was added."""

    def __init__(self, sku: str, registered: int, given: int, limit: int) -> None:
        super().__init__(
            f"{sku!r} has {registered} reference photo(s); {given} more would pass the limit"
            f" of {limit}"
        )
        self.sku, self.registered, self.given, self.limit = sku, registered, given, limit


class StoreHasNoReferences(Exception):
    """Seeding from a store with no reference photos (of the SKUs asked for); nothing copied."""

    def __init__(self, store_id: str) -> None:
        super().__init__(f"store {store_id!r} has no reference photos to copy")
        self.store_id = store_id


class SeedPassesLimit(Exception):
    """Seeding would give some product more than the per-product limit; nothing was copied."""

    def __init__(self, over: Mapping[str, tuple[int, int]], limit: int) -> None:
        shown = ", ".join(f"{sku!r} ({had} + {new})" for sku, (had, new) in sorted(over.items()))
        super().__init__(f"copying would pass the limit of {limit} reference photos for {shown}")
        self.over, self.limit = dict(over), limit


@runtime_checkable
class Learner(Protocol):
    """What a recognizer that learns without retraining also does (the real pipeline, the mock).

    Every store has its own gallery: its reference photos, learned crops and counters' empty
    trays, with the per-product limit counted per store. `store_id` defaults to
    contract.DEFAULT_STORE. All calls run in the inference thread, between requests, so they
    never race a recognition.
    """

    def register(
        self, sku: str, photos: Sequence[Image.Image], store_id: str = DEFAULT_STORE
    ) -> Sequence[PhotoOutcome]:
        """Add reference photos of a product to the store's gallery (and persist it).

        Each photo is checked on its own: one in which no single clear item is found is refused
        with its reason, the others are added. Raises TooManyPhotos (adding nothing) when the
        product would hold more than contract.MAX_PHOTOS reference photos in that store.
        """
        ...

    def photos(self, sku: str, store_id: str = DEFAULT_STORE) -> Sequence[Mapping[str, Any]]:
        """The product's reference photos: [{"id": str, "added_at": ISO 8601 str}, ...]."""
        ...

    def delete_photo(self, sku: str, photo_id: str, store_id: str = DEFAULT_STORE) -> bool:
        """Drop one reference photo (and persist); False when the product has no such photo."""
        ...

    def seed(
        self, store_id: str, from_store_id: str, skus: Sequence[str] | None = None
    ) -> Mapping[str, int]:
        """Copy `from_store_id`'s reference photos (of `skus`, default all) into `store_id`.

        Photos keep their ids, and one the target already holds is not copied again, so seeding
        twice copies nothing twice. Returns {sku: photos copied} for every SKU asked for (or
        every SKU the source has). Raises StoreHasNoReferences when the source holds none of
        them, SeedPassesLimit (copying nothing) when a product would pass contract.MAX_PHOTOS.
        """
        ...

    def capture_background(
        self, counter_id: str, frames: Sequence[Image.Image], store_id: str = DEFAULT_STORE
    ) -> Mapping[str, Any]:
        """Store a counter's empty tray (1-4 frames) for recognitions that name the counter.

        Persisted with the store's gallery. Raises ValueError naming the problem when the frames
        cannot be an empty tray (for example, items are on it).
        """
        ...

    def learn(
        self,
        frames: Sequence[Image.Image],
        items: Sequence[tuple[str, int]],
        store_id: str = DEFAULT_STORE,
    ) -> Mapping[str, Any]:
        """Add the crops of a tray whose true contents staff confirmed (and persist the gallery)."""
        ...


def recognize(recognizer: Recognizer, request: TrayRequest) -> Recognition:
    """Run one tray through the handler phases; add the phases' times the recognizer did not."""
    started = time.perf_counter()
    batch = recognizer.preprocess(request)
    with recognizer.inference_context():
        raw = recognizer.inference(batch)
    recognition = recognizer.postprocess(raw, request)
    timings = dict(recognition.timings_ms)
    timings.setdefault("recognize", _ms_since(started))
    return Recognition(recognition.decision, recognition.reason, recognition.items, timings)


def answer_json(
    recognition: Recognition, recognizer: Recognizer, timings_ms: Mapping[str, float]
) -> dict[str, Any]:
    """The contract's JSON answer for a recognition."""
    return {
        "decision": str(recognition.decision),
        "reason": recognition.reason,
        "items": [
            {
                "sku": item.sku,
                "count": item.count,
                "confidence": round(item.confidence, 4),
                "candidates": [{"sku": c.sku, "score": round(c.score, 4)} for c in item.candidates],
                "boxes": [{"frame": b.frame, "box": list(b.box)} for b in item.boxes],
            }
            for item in recognition.items
        ],
        "model_version": recognizer.model_version,
        "device": recognizer.device,
        "timings_ms": {name: round(ms, 2) for name, ms in timings_ms.items()},
    }


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
