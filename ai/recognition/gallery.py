"""The product gallery: reference (and learned) item embeddings per SKU, persisted to a file or gs://.

Every store has its own gallery (`StoreGalleries`, one file for all of them): a store's photos,
learned crops, counters' empty trays and per-product limit are its own.

Storage is a small injectable hook (`Storage`: read/write bytes by URL). Local paths use the file
system; `gs://` URLs use the injected storage or `GCSStorage`, which imports google-cloud-storage
only when it is used, so the dependency stays optional (tests inject a fake).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import torch

from contract import MAX_PHOTOS

MAX_REFERENCE_PHOTOS = MAX_PHOTOS
MAX_LEARNED_PER_SKU = 20
FORMAT = "bakesight-gallery-2"  # adds photo ids, their times and the counters' captures
OLD_FORMATS = ("bakesight-gallery-1",)
STORES_FORMAT = "bakesight-galleries-3"  # one gallery per store; older files are store "default"


class Storage(Protocol):
    def read(self, url: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    def write(self, url: str, data: bytes) -> None:
        """Create or replace the object."""


class LocalStorage:
    """Plain files; writes are atomic (temp file + rename)."""

    def read(self, url: str) -> bytes | None:
        p = Path(url)
        return p.read_bytes() if p.exists() else None

    def write(self, url: str, data: bytes) -> None:
        p = Path(url)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)


class GCSStorage:
    """gs://bucket/path objects through google-cloud-storage (imported on first use)."""

    def __init__(self, client=None) -> None:
        self._client = client

    def _blob(self, url: str):
        if self._client is None:
            from google.cloud import storage  # optional dependency

            self._client = storage.Client()
        bucket, _, name = url.removeprefix("gs://").partition("/")
        return self._client.bucket(bucket).blob(name)

    def read(self, url: str) -> bytes | None:
        blob = self._blob(url)
        return blob.download_as_bytes() if blob.exists() else None

    def write(self, url: str, data: bytes) -> None:
        self._blob(url).upload_from_string(data, content_type="application/octet-stream")


def storage_for(url: str, storage: Storage | None = None) -> Storage:
    """gs:// URLs: the injected storage, else GCS; anything else: the local file system."""
    if not url.startswith("gs://"):
        return LocalStorage()
    return storage if storage is not None else GCSStorage()


@dataclass
class Gallery:
    """Embeddings with their SKU, source, crop (to re-embed with another embedder) and size."""

    embedder_id: str
    skus: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # "reference" | "review"
    embeddings: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0))
    crops: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 4, 0, 0, dtype=torch.uint8))
    scales: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    areas: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # item area / frame area
    photo_ids: list[str] = field(default_factory=list)  # per entry: its reference photo's id
    added_at: list[str] = field(default_factory=list)  # per entry: ISO 8601 UTC
    # per entry: the light's colour on its tray (light.tray_light); NaN where not recorded
    lights: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3))
    # counter id -> its empty-tray capture (background.Capture.to_state) and when it was taken
    backgrounds: dict[str, dict] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.skus)

    @property
    def sku_list(self) -> list[str]:
        return sorted(set(self.skus))

    def count(self, sku: str, source: str | None = None) -> int:
        return sum(
            1
            for s, o in zip(self.skus, self.sources, strict=True)
            if s == sku and (source is None or o == source)
        )

    def add(
        self,
        sku: str,
        source: str,
        embeddings: torch.Tensor,
        crops: torch.Tensor,
        scales: torch.Tensor,
        areas: torch.Tensor,
        lights: torch.Tensor | None = None,
    ) -> list[str]:
        """Append entries (one per row); returns their new ids. lights: (n, 3), each entry's
        tray light (None: not recorded)."""
        emb = embeddings.detach().float().cpu()
        if len(self) == 0:
            self.embeddings = emb.new_zeros(0, emb.shape[1])
            self.crops = torch.zeros(0, *crops.shape[1:], dtype=torch.uint8)
        q = (crops.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
        self.embeddings = torch.cat([self.embeddings, emb])
        self.crops = torch.cat([self.crops, q])
        self.scales = torch.cat([self.scales, scales.detach().float().cpu()])
        self.areas = torch.cat([self.areas, areas.detach().float().cpu()])
        light = torch.full((len(emb), 3), float("nan")) if lights is None else lights
        self.lights = torch.cat([self.lights, light.detach().float().cpu().reshape(-1, 3)])
        self.skus += [sku] * len(emb)
        self.sources += [source] * len(emb)
        ids = [new_photo_id() for _ in range(len(emb))]
        self.photo_ids += ids
        self.added_at += [now_iso()] * len(emb)
        return ids

    def references(self, sku: str) -> list[dict[str, str]]:
        """The product's reference photos, oldest first: [{"id", "added_at"}]."""
        return [
            {"id": i, "added_at": t}
            for s, o, i, t in zip(
                self.skus, self.sources, self.photo_ids, self.added_at, strict=True
            )
            if s == sku and o == "reference"
        ]

    def delete_reference(self, sku: str, photo_id: str) -> bool:
        """Drop one reference photo of `sku`; False when it has no such photo."""
        keep = [
            not (s == sku and o == "reference" and i == photo_id)
            for s, o, i in zip(self.skus, self.sources, self.photo_ids, strict=True)
        ]
        if all(keep):
            return False
        self.remove(keep)
        return True

    def remove(self, keep: list[bool]) -> None:
        idx = torch.tensor([i for i, k in enumerate(keep) if k], dtype=torch.long)
        self.embeddings = self.embeddings[idx]
        self.crops = self.crops[idx]
        self.scales = self.scales[idx]
        self.areas = self.areas[idx]
        self.lights = self.lights[idx]
        self.skus = [s for s, k in zip(self.skus, keep, strict=True) if k]
        self.sources = [s for s, k in zip(self.sources, keep, strict=True) if k]
        self.photo_ids = [s for s, k in zip(self.photo_ids, keep, strict=True) if k]
        self.added_at = [s for s, k in zip(self.added_at, keep, strict=True) if k]

    def trim_learned(self, sku: str, limit: int = MAX_LEARNED_PER_SKU) -> None:
        """Keep only the newest `limit` review crops of `sku`."""
        learned = [
            i
            for i, (s, o) in enumerate(zip(self.skus, self.sources, strict=True))
            if s == sku and o == "review"
        ]
        drop = set(learned[: max(0, len(learned) - limit)])
        if drop:
            self.remove([i not in drop for i in range(len(self))])

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.embedder_id.encode())
        pairs = zip(self.skus, self.sources, strict=True)
        h.update("\n".join(f"{s}:{o}" for s, o in pairs).encode())
        h.update(self.embeddings.numpy().tobytes())
        return h.hexdigest()[:10]

    def copy_references(self, source: Gallery, sku: str) -> int:
        """Copy `source`'s reference photos of `sku` that this gallery lacks (ids kept)."""
        have = {i for s, i in zip(self.skus, self.photo_ids, strict=True) if s == sku}
        rows = [
            k
            for k, (s, o, i) in enumerate(
                zip(source.skus, source.sources, source.photo_ids, strict=True)
            )
            if s == sku and o == "reference" and i not in have
        ]
        if not rows:
            return 0
        idx = torch.tensor(rows, dtype=torch.long)
        if len(self) == 0:
            self.embeddings = source.embeddings.new_zeros(0, source.embeddings.shape[1])
            self.crops = torch.zeros(0, *source.crops.shape[1:], dtype=torch.uint8)
        self.embeddings = torch.cat([self.embeddings, source.embeddings[idx]])
        self.crops = torch.cat([self.crops, source.crops[idx]])
        self.scales = torch.cat([self.scales, source.scales[idx]])
        self.areas = torch.cat([self.areas, source.areas[idx]])
        self.lights = torch.cat([self.lights, source.lights[idx]])
        self.skus += [sku] * len(rows)
        self.sources += ["reference"] * len(rows)
        self.photo_ids += [source.photo_ids[k] for k in rows]
        self.added_at += [source.added_at[k] for k in rows]
        return len(rows)

    def missing_references(self, source: Gallery, sku: str) -> int:
        """How many of `source`'s reference photos of `sku` this gallery lacks."""
        have = {i for s, i in zip(self.skus, self.photo_ids, strict=True) if s == sku}
        return sum(1 for r in source.references(sku) if r["id"] not in have)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save(self.to_state(), buf)
        return buf.getvalue()

    def to_state(self) -> dict:
        return {
            "format": FORMAT,
            "embedder_id": self.embedder_id,
            "skus": self.skus,
            "sources": self.sources,
            "embeddings": self.embeddings,
            "crops": self.crops,
            "scales": self.scales,
            "areas": self.areas,
            "photo_ids": self.photo_ids,
            "added_at": self.added_at,
            "lights": self.lights,
            "backgrounds": self.backgrounds,
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> Gallery:
        return cls.from_state(torch.load(io.BytesIO(data), weights_only=True, map_location="cpu"))

    @classmethod
    def from_state(cls, d: dict) -> Gallery:
        if d.get("format") not in (FORMAT, *OLD_FORMATS):
            raise ValueError(f"not a gallery file (format {d.get('format')!r})")
        n = len(d["skus"])
        return cls(
            d["embedder_id"],
            list(d["skus"]),
            list(d["sources"]),
            d["embeddings"],
            d["crops"],
            d["scales"],
            d["areas"],
            # a gallery written before photos had ids: give each entry one now
            list(d.get("photo_ids") or [new_photo_id() for _ in range(n)]),
            list(d.get("added_at") or [now_iso()] * n),
            # a gallery written before lights were recorded: none known
            d["lights"] if "lights" in d else torch.full((n, 3), float("nan")),
            dict(d.get("backgrounds") or {}),
        )


@dataclass
class StoreGalleries:
    """One gallery per store, saved together in one file (format STORES_FORMAT)."""

    stores: dict[str, Gallery] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        state = {store: g.to_state() for store, g in self.stores.items()}
        torch.save({"format": STORES_FORMAT, "stores": state}, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, default_store: str) -> StoreGalleries:
        """Read a galleries file; a single-gallery file (an older format) is `default_store`'s."""
        d = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        if d.get("format") == STORES_FORMAT:
            return cls({store: Gallery.from_state(g) for store, g in d["stores"].items()})
        return cls({default_store: Gallery.from_state(d)})


def new_photo_id() -> str:
    return secrets.token_hex(6)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
