"""The frames of recent trays, kept until staff resolve their review so the AI can learn from it.

Bounded in count and age: the AI VM keeps a working set, not an archive (the tray bucket is the
archive). A tray that has fallen out is simply not learned from; payment never depends on it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from PIL import Image


class TrayMemory:
    def __init__(self, max_trays: int, max_age_s: float) -> None:
        self.max_trays = max_trays
        self.max_age_s = max_age_s
        self._trays: OrderedDict[str, tuple[float, tuple[Image.Image, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, tray_id: str, frames: Sequence[Image.Image]) -> None:
        """Keep this tray's frames; a re-scan of the same tray replaces the older frames."""
        with self._lock:
            self._trays.pop(tray_id, None)
            self._trays[tray_id] = (time.monotonic(), tuple(frames))
            while len(self._trays) > self.max_trays:
                self._trays.popitem(last=False)

    def recall(self, tray_id: str) -> tuple[Image.Image, ...] | None:
        with self._lock:
            entry = self._trays.get(tray_id)
            if entry is None:
                return None
            stored_at, frames = entry
            if time.monotonic() - stored_at > self.max_age_s:
                del self._trays[tray_id]
                return None
            return frames

    def forget(self, tray_id: str) -> None:
        with self._lock:
            self._trays.pop(tray_id, None)

    def __len__(self) -> int:
        return len(self._trays)
