"""AI_MOCK_MODE=1: a recognizer that needs no model, answers at once and never imports torch.

The answer is a pure function of the decoded frames and the candidate SKUs (the same frames give
the same answer). Without a marker the decision is AUTO; a marker in a frame's metadata asks for
a decision, and optionally for exact items, on purpose:

    PNG text chunk   key "bakesight-mock", value "REVIEW"                 (tEXt, zTXt or iTXt)
    JPEG comment     "bakesight-mock: UNKNOWN BAGEL-PLAIN*2 CROISSANT"

The value is a decision (AUTO, REVIEW or UNKNOWN), then optionally SKU or SKU*COUNT items. A named
SKU that is not a candidate becomes an unmatched item, so the tray cannot be AUTO.

The mock also learns, in memory and per store: reference photos get ids (a hash of their pixels)
and can be listed, deleted and copied to another store, and counters' empty trays are kept. It
refuses on purpose, so clients can test their handling of refusals:

    a reference photo of one uniform colour     refused: "no item found ..."
    a photo or background frame marked          refused with the reason given:
        "bakesight-mock: REFUSE several items"  (PNG text chunk or JPEG comment, as above)
    background frames of different sizes        refused: "the frames differ in size ..."
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ai.errors import ApiError
from ai.recognizer import (
    Box,
    Candidate,
    Decision,
    Item,
    PhotoOutcome,
    Recognition,
    SeedPassesLimit,
    StoreHasNoReferences,
    TooManyPhotos,
    TrayRequest,
)
from contract import DEFAULT_STORE, MAX_PHOTOS

MARKER = "bakesight-mock"
REFUSE = "REFUSE"  # a marker value that asks the mock to refuse a photo or a background frame


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
        # store → SKU → {photo id: added_at}, in the order added; the answers do not depend on it.
        self.galleries: dict[str, dict[str, dict[str, str]]] = {}
        self.backgrounds: dict[tuple[str, str], int] = {}  # (store, counter) → frames
        self.learned_trays: dict[str, int] = {}  # store → trays learned from

    def load(self) -> None:
        """Nothing to load; the mock is ready at once."""

    def register(
        self, sku: str, photos: Sequence[Image.Image], store_id: str = DEFAULT_STORE
    ) -> Sequence[PhotoOutcome]:
        """Keep an id per photo; refuse uniform and REFUSE-marked photos (module docstring)."""
        registered = self.galleries.setdefault(store_id, {}).setdefault(sku, {})
        if len(registered) + len(photos) > MAX_PHOTOS:
            raise TooManyPhotos(sku, len(registered), len(photos), MAX_PHOTOS)
        outcomes = []
        for index, photo in enumerate(photos):
            reason = _refusal(photo) or _uniform(photo)
            if reason is not None:
                outcomes.append(PhotoOutcome(index, reason=reason))
                continue
            photo_id = _photo_id(photo, registered)
            registered[photo_id] = _now()
            outcomes.append(PhotoOutcome(index, photo_id=photo_id))
        return outcomes

    def photos(self, sku: str, store_id: str = DEFAULT_STORE) -> Sequence[Mapping[str, Any]]:
        return [
            {"id": photo_id, "added_at": added_at}
            for photo_id, added_at in self.galleries.get(store_id, {}).get(sku, {}).items()
        ]

    def delete_photo(self, sku: str, photo_id: str, store_id: str = DEFAULT_STORE) -> bool:
        return self.galleries.get(store_id, {}).get(sku, {}).pop(photo_id, None) is not None

    def seed(
        self, store_id: str, from_store_id: str, skus: Sequence[str] | None = None
    ) -> Mapping[str, int]:
        """Copy the source store's photo records (ids kept; ones already there are skipped)."""
        source = {sku: photos for sku, photos in self.galleries.get(from_store_id, {}).items()}
        wanted = list(skus) if skus is not None else sorted(s for s in source if source[s])
        if not any(source.get(sku) for sku in wanted):
            raise StoreHasNoReferences(from_store_id)
        target = self.galleries.get(store_id, {})
        new = {
            sku: [i for i in source.get(sku, {}) if i not in target.get(sku, {})] for sku in wanted
        }
        over = {
            sku: (len(target.get(sku, {})), len(ids))
            for sku, ids in new.items()
            if len(target.get(sku, {})) + len(ids) > MAX_PHOTOS
        }
        if over:
            raise SeedPassesLimit(over, MAX_PHOTOS)
        target = self.galleries.setdefault(store_id, {})
        for sku, ids in new.items():
            if ids:
                kept = target.setdefault(sku, {})
                kept.update((i, source[sku][i]) for i in ids)
        return {sku: len(ids) for sku, ids in new.items()}

    def capture_background(
        self, counter_id: str, frames: Sequence[Image.Image], store_id: str = DEFAULT_STORE
    ) -> Mapping[str, Any]:
        """Keep the counter's frame count; refuse REFUSE-marked frames and mixed sizes."""
        for index, frame in enumerate(frames):
            reason = _refusal(frame)
            if reason is not None:
                raise ValueError(f"frame {index}: {reason}")
        sizes = sorted({frame.size for frame in frames})
        if len(sizes) > 1:
            shown = ", ".join(f"{w}x{h}" for w, h in sizes)
            raise ValueError(f"the frames differ in size ({shown}); send views of one camera")
        self.backgrounds[(store_id, counter_id)] = len(frames)
        return {"frames": len(frames), "captured_at": _now()}

    def learn(
        self,
        frames: Sequence[Image.Image],
        items: Sequence[tuple[str, int]],
        store_id: str = DEFAULT_STORE,
    ) -> Mapping[str, Any]:
        """Count the tray: the mock learns nothing from it."""
        self.learned_trays[store_id] = self.learned_trays.get(store_id, 0) + 1
        return {"crops_added": 0, "learned_trays": self.learned_trays[store_id]}

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


def _refusal(image: Image.Image) -> str | None:
    marker = _marker(image.info)
    words = marker.split() if marker is not None else []
    if not words or words[0].upper() != REFUSE:
        return None
    return " ".join(words[1:]) or "refused by the mock marker"


def _uniform(photo: Image.Image) -> str | None:
    extrema = photo.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    if all(low == high for low, high in bands):
        return "no item found: the photo is one uniform colour"
    return None


def _photo_id(photo: Image.Image, taken: Mapping[str, str]) -> str:
    digest = hashlib.sha256(f"{photo.width}x{photo.height}".encode() + photo.tobytes())
    base = digest.hexdigest()[:12]
    photo_id, copy = base, 1
    while photo_id in taken:  # the same photo twice is two references, as in the real gallery
        copy += 1
        photo_id = f"{base}-{copy}"
    return photo_id


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
