"""The frames of recent trays, kept until staff resolve their review so the AI can learn from it.

Bounded in bytes, count and age: the AI VM keeps a working set, not an archive. A tray that has
fallen out is simply not learned from; payment never depends on it.

What is kept is what learning needs, not the decoded frames: each frame reduced to the width the
recognizer works at and stored as a JPEG (a 1280×960 frame kept at 640 px is about 35 KB instead of
3.7 MB decoded), with its real size in `info["full_size"]` so boxes still mean frame pixels. The
oldest trays are evicted first until the total fits the budget; a tray larger than the whole
budget is not kept at all. Encoding a 640×480 frame costs about 1 ms, so callers run `remember`
off the request's critical path.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

log = logging.getLogger("ai")

# Frames wider than this are reduced before they are kept, when the recognizer reads full frames.
DEFAULT_KEEP_WIDTH = 1280
JPEG_QUALITY = 90


@dataclass(frozen=True)
class _Kept:
    stored_at: float
    frames: tuple[tuple[bytes, tuple[int, int]], ...]  # JPEG bytes and the frame's real size

    @property
    def nbytes(self) -> int:
        return sum(len(data) for data, _ in self.frames)


class TrayMemory:
    def __init__(
        self, max_trays: int, max_age_s: float, max_bytes: int, keep_width: int = 0
    ) -> None:
        self.max_trays = max_trays
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.keep_width = keep_width or DEFAULT_KEEP_WIDTH
        self._trays: OrderedDict[str, _Kept] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def remember(self, tray_id: str, frames: Sequence[Image.Image]) -> None:
        """Keep this tray's frames; a re-scan of the same tray replaces the older frames."""
        kept = _Kept(time.monotonic(), tuple(self._shrink(frame) for frame in frames))
        with self._lock:
            self._drop(tray_id)
            if kept.nbytes > self.max_bytes:
                log.warning(
                    "tray %s not kept for learning: %d bytes exceed AI_TRAY_MEMORY_BYTES",
                    tray_id,
                    kept.nbytes,
                )
                return
            self._trays[tray_id] = kept
            self._bytes += kept.nbytes
            while len(self._trays) > self.max_trays or self._bytes > self.max_bytes:
                oldest = next(iter(self._trays))
                self._drop(oldest)

    def recall(self, tray_id: str) -> tuple[Image.Image, ...] | None:
        """The tray's frames (RGB, `info["full_size"]` set), or None when not kept or too old."""
        with self._lock:
            kept = self._trays.get(tray_id)
            if kept is None:
                return None
            if time.monotonic() - kept.stored_at > self.max_age_s:
                self._drop(tray_id)
                return None
        return tuple(_restore(data, full_size) for data, full_size in kept.frames)

    def forget(self, tray_id: str) -> None:
        with self._lock:
            self._drop(tray_id)

    @property
    def nbytes(self) -> int:
        """Bytes held by the kept frames."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._trays)

    def _drop(self, tray_id: str) -> None:
        kept = self._trays.pop(tray_id, None)
        if kept is not None:
            self._bytes -= kept.nbytes

    def _shrink(self, frame: Image.Image) -> tuple[bytes, tuple[int, int]]:
        full_size = tuple(frame.info.get("full_size", frame.size))
        image = frame.convert("RGB")
        if image.width > self.keep_width:
            height = max(1, round(image.height * self.keep_width / image.width))
            image = image.resize(
                (self.keep_width, height), Image.Resampling.BILINEAR, reducing_gap=2.0
            )
        out = io.BytesIO()
        image.save(out, "JPEG", quality=JPEG_QUALITY)
        return out.getvalue(), (int(full_size[0]), int(full_size[1]))


def _restore(data: bytes, full_size: tuple[int, int]) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    rgb = image.convert("RGB")
    rgb.info["full_size"] = full_size
    return rgb
