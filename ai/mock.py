"""AI_MOCK_MODE=1: a recognizer that needs no model, answers at once and never imports torch.

The answer is a pure function of the decoded frames and the candidate SKUs (the same frames give
the same answer). Without a marker the decision is AUTO; a marker in a frame's metadata asks for
a decision, and optionally for exact items, on purpose:

    PNG text chunk   key "bakesight-mock", value "REVIEW"                 (tEXt, zTXt or iTXt)
    JPEG comment     "bakesight-mock: UNKNOWN BAGEL-PLAIN*2 CROISSANT"

The value is a decision (AUTO, REVIEW or UNKNOWN), then optionally SKU or SKU*COUNT items. A named
SKU that is not a candidate becomes an unmatched item, so the tray cannot be AUTO.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ai.errors import ApiError
from ai.recognizer import Box, Candidate, Decision, Item, Recognition, TrayRequest

MARKER = "bakesight-mock"


@dataclass(frozen=True)
class _Order:
    """What the tray should answer: a decision and, when the marker names them, the items."""

    decision: Decision
    items: tuple[tuple[str, int], ...] | None
    seed: int


class MockRecognizer:
    model_version = "mock-1"
    device = "cpu"
    decode_width = 0  # the mock hashes the full frames

    def __init__(self) -> None:
        self.gallery: dict[str, int] = {}  # SKU → reference photos registered
        self.learned_trays = 0

    def load(self) -> None:
        """Nothing to load; the mock is ready at once."""

    def register(self, sku: str, photos: Sequence[Image.Image]) -> Mapping[str, Any]:
        """Count the photos: the mock's answers do not depend on them."""
        self.gallery[sku] = self.gallery.get(sku, 0) + len(photos)
        return {"sku": sku, "photos_added": len(photos), "gallery_photos": self.gallery[sku]}

    def learn(
        self, frames: Sequence[Image.Image], items: Sequence[tuple[str, int]]
    ) -> Mapping[str, Any]:
        """Count the tray: the mock learns nothing from it."""
        self.learned_trays += 1
        return {"crops_added": 0, "learned_trays": self.learned_trays}

    def inference_context(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def preprocess(self, request: TrayRequest) -> _Order:
        digest = hashlib.sha256()
        for frame in request.frames:
            digest.update(f"{frame.width}x{frame.height}".encode())
            digest.update(frame.tobytes())
        for sku in sorted(request.candidate_skus):
            digest.update(b"\0" + sku.encode())
        decision, items = Decision.AUTO, None
        for index, frame in enumerate(request.frames):
            marker = _marker(frame.info)
            if marker is not None:
                decision, items = _parse_marker(index, marker)
                break
        return _Order(decision, items, int.from_bytes(digest.digest()[:8], "big"))

    def inference(self, order: _Order) -> _Order:
        return order

    def postprocess(self, order: _Order, request: TrayRequest) -> Recognition:
        rng = random.Random(order.seed)
        skus = sorted(request.candidate_skus)
        wanted = order.items if order.items is not None else _pick_items(rng, skus)
        matched = [(sku, count) for sku, count in wanted if sku in skus]
        strangers = [(sku, count) for sku, count in wanted if sku not in skus]
        decision = order.decision
        if strangers and decision is Decision.AUTO:
            decision = Decision.UNKNOWN
        items = [
            _item(rng, request, skus, sku, count, rng.uniform(0.90, 0.99)) for sku, count in matched
        ]
        reason = "mock: all items matched with confidence above the AUTO threshold"
        if decision is Decision.REVIEW and items:
            unsure = items[-1]
            items[-1] = _item(rng, request, skus, unsure.sku, unsure.count, rng.uniform(0.55, 0.7))
            runner_up = items[-1].candidates[1].sku if len(items[-1].candidates) > 1 else "nothing"
            reason = f"mock: {unsure.sku} is too close to {runner_up}; staff should confirm"
        elif decision is Decision.REVIEW:
            reason = "mock: the tray looks empty; staff should confirm"
        if decision is Decision.UNKNOWN:
            for _sku, count in strangers or [("", 1)]:
                items.append(_item(rng, request, skus, None, count, rng.uniform(0.15, 0.35)))
            reason = "mock: an item on the tray matched none of the candidate SKUs"
        return Recognition(decision, reason, tuple(items))


def _marker(info: Mapping[Any, Any]) -> str | None:
    if MARKER in info:
        return str(info[MARKER])
    comment = info.get("comment")
    if isinstance(comment, bytes):
        comment = comment.decode("latin-1")
    if isinstance(comment, str) and comment.startswith(MARKER + ":"):
        return comment[len(MARKER) + 1 :]
    return None


def _parse_marker(index: int, marker: str) -> tuple[Decision, tuple[tuple[str, int], ...] | None]:
    words = marker.split()
    try:
        decision = Decision(words[0].upper()) if words else None
    except ValueError:
        decision = None
    if decision is None:
        raise _bad_marker(index, marker, "must start with AUTO, REVIEW or UNKNOWN")
    items = []
    for word in words[1:]:
        sku, _, count = word.partition("*")
        if not sku or (count and (not count.isdigit() or int(count) < 1)):
            raise _bad_marker(index, marker, f"{word!r} is not SKU or SKU*COUNT")
        items.append((sku, int(count or 1)))
    return decision, tuple(items) or None


def _bad_marker(index: int, marker: str, why: str) -> ApiError:
    return ApiError(
        422,
        "invalid_mock_marker",
        f"frame {index}: mock marker {marker!r} {why}",
        frame=index,
        limit=MARKER,
    )


def _pick_items(rng: random.Random, skus: list[str]) -> list[tuple[str, int]]:
    kinds = rng.randint(1, min(4, len(skus)))
    return [(sku, rng.randint(1, 3)) for sku in rng.sample(skus, kinds)]


def _item(
    rng: random.Random,
    request: TrayRequest,
    skus: list[str],
    sku: str | None,
    count: int,
    confidence: float,
) -> Item:
    others = [other for other in skus if other != sku]
    rng.shuffle(others)
    names = ([sku] if sku is not None else []) + others
    candidates = []
    score = confidence
    for rank, name in enumerate(names[: request.top_k]):
        if rank > 0 or sku is None:
            score = max(0.0, score - _gap(rng, close=confidence < 0.75 and rank == 1))
        candidates.append(Candidate(name, score))
    boxes = [
        _box(rng, index, frame.width, frame.height)
        for index, frame in enumerate(request.frames)
        for _ in range(count)
    ]
    return Item(sku, count, confidence, tuple(candidates), tuple(boxes))


def _gap(rng: random.Random, close: bool) -> float:
    # The runner-up sits close behind an unsure item, far behind a sure one.
    return rng.uniform(0.03, 0.08) if close else rng.uniform(0.1, 0.2)


def _box(rng: random.Random, frame: int, width: int, height: int) -> Box:
    box_width = max(1, int(width * rng.uniform(0.12, 0.25)))
    box_height = max(1, int(height * rng.uniform(0.12, 0.25)))
    x0 = rng.randint(0, width - box_width)
    y0 = rng.randint(0, height - box_height)
    return Box(frame, (x0, y0, x0 + box_width, y0 + box_height))
