"""The tray archive: every frame a counter sent, kept as received, as evidence for staff.

`TRAY_ARCHIVE` names where: a local folder (default `var/trays`, no set-up) or a Cloud Storage
prefix `gs://bucket/prefix` (the stack's tray bucket; its lifecycle rule is the retention).
Objects are named `<session uuid>/<archive id>/frame-<n>.<jpg|png>`; a run stores the list of
its frames' names. Writing is best-effort by design: a failed write is logged and counted and
the tray is decided without it — evidence must never stand between a customer and checkout.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import uuid
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("central.archive")

# Longest an archive write may delay the stored decision (it runs next to the AI call).
WRITE_TIMEOUT_S = 5.0
# Longest a staff request waits for one frame from the bucket (it may be retried by reloading).
READ_TIMEOUT_S = 10.0
_NAME_RE = re.compile(r"^[0-9a-f-]{36}/[0-9a-f]{32}/frame-\d{1,2}\.(jpg|png)$")


class ArchiveError(Exception):
    """The archive could not store or return an object."""


class FrameMissing(ArchiveError):
    """No object under that name (expired by the bucket's lifecycle, or never written)."""


class TrayArchive(Protocol):
    def describe(self) -> str: ...

    async def put(self, name: str, data: bytes) -> None: ...

    async def get(self, name: str) -> bytes: ...


class LocalArchive:
    """A folder on the instance's disk: for a workstation, the demo and the tests."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        if not _NAME_RE.match(name):  # names come from the database; never a path to escape by
            raise ArchiveError(f"not an archive name: {name[:80]!r}")
        return self.root / name

    async def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        await asyncio.to_thread(_write, path, data)

    async def get(self, name: str) -> bytes:
        path = self._path(name)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise FrameMissing(name) from None
        except OSError as error:
            raise ArchiveError(str(error)) from None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)  # never a half-written frame under the real name


class GcsArchive:
    """A prefix in a Cloud Storage bucket, reached with the instance's service account."""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket_name, self.prefix = bucket, prefix.strip("/")
        self._bucket: Any = None

    def describe(self) -> str:
        return f"gs://{self.bucket_name}/{self.prefix}"

    def _blob(self, name: str) -> Any:
        if not _NAME_RE.match(name):
            raise ArchiveError(f"not an archive name: {name[:80]!r}")
        if self._bucket is None:
            # Imported here: only a cloud deployment needs the client library.
            from google.cloud import storage

            self._bucket = storage.Client().bucket(self.bucket_name)
        return self._bucket.blob(f"{self.prefix}/{name}" if self.prefix else name)

    async def put(self, name: str, data: bytes) -> None:
        content_type = "image/png" if name.endswith(".png") else "image/jpeg"

        def upload() -> None:
            # No library retries (they go on for up to 2 minutes in a thread that outlives the
            # caller's timeout): a write is best-effort and bounded by WRITE_TIMEOUT_S.
            self._blob(name).upload_from_string(
                data, content_type=content_type, timeout=WRITE_TIMEOUT_S, retry=None
            )

        try:
            await asyncio.to_thread(upload)
        except ArchiveError:
            raise
        except Exception as error:  # the library raises many kinds; all mean "not stored"
            raise ArchiveError(f"{type(error).__name__}: {error}") from None

    async def get(self, name: str) -> bytes:
        def download() -> bytes:
            data: bytes = self._blob(name).download_as_bytes(timeout=READ_TIMEOUT_S, retry=None)
            return data

        try:
            return await asyncio.to_thread(download)
        except ArchiveError:
            raise
        except Exception as error:
            if type(error).__name__ == "NotFound":
                raise FrameMissing(name) from None
            raise ArchiveError(f"{type(error).__name__}: {error}") from None


def parse_archive(raw: str) -> TrayArchive:
    """`gs://bucket/prefix` or a folder path; raises ValueError saying what is wrong."""
    raw = raw.strip()
    if not raw:
        raise ValueError("must be a folder or gs://bucket/prefix")
    if raw.startswith("gs://"):
        bucket, _, prefix = raw[len("gs://") :].partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]", bucket):
            raise ValueError("gs:// must name a bucket: gs://bucket/prefix")
        return GcsArchive(bucket, prefix)
    if "://" in raw:
        raise ValueError("must be a folder or gs://bucket/prefix")
    return LocalArchive(Path(raw))


def frame_names(session_uuid: str, frames_b64: list[str]) -> list[str]:
    """Fresh names for one infer's frames (a rescan never overwrites an earlier scan's)."""
    batch = uuid.uuid4().hex
    return [
        f"{session_uuid}/{batch}/frame-{index}.{_extension(frame)}"
        for index, frame in enumerate(frames_b64)
    ]


def _extension(frame_b64: str) -> str:
    return "png" if frame_b64.startswith("iVBORw0KGgo") else "jpg"  # PNG's signature in base64


async def archive_frames(
    archive: TrayArchive, session_uuid: str, frames_b64: list[str], failures: Any
) -> list[str] | None:
    """Store the frames; their names, or None when any write failed (logged and counted).

    Never raises and never takes longer than WRITE_TIMEOUT_S: the caller decides the tray anyway.
    """
    names = frame_names(session_uuid, frames_b64)
    try:
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    archive.put(name, base64.b64decode(frame))
                    for name, frame in zip(names, frames_b64, strict=True)
                )
            ),
            WRITE_TIMEOUT_S,
        )
    except Exception as error:
        reason = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
        failures.labels(reason).inc()
        log.warning(
            "tray frames not archived; the tray is decided without them",
            extra={"session": session_uuid, "archive": archive.describe(), "error": str(error)},
        )
        return None
    return names
