"""Reproducible source archives, built at synth time from files in the repository.

The GPU VM installs the AI service from one archive in the models bucket, and Cloud Build builds
Central from another in the builds bucket: no scp, no local Docker. The archives are byte-for-byte
reproducible (sorted entries, fixed owners and times, gzip without a timestamp), so their hash only
changes when their content does, and the hash names the object, the image tag and the trigger that
rebuilds or reinstalls.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

# Never shipped: caches and local state that may sit next to the sources.
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", ".nox"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class Archive:
    """An archive on disk: its path, sha256, what went in and what was asked for but absent."""

    path: Path
    sha256: str
    members: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


def build_archive(root: Path, members: tuple[str, ...], out: Path) -> Archive:
    """Pack `members` (files or directories, relative to `root`) into the tar.gz `out`.

    A member that does not exist is skipped and listed in `missing`: the caller decides whether
    that is worth a warning (a parallel branch may not have added it yet).
    """
    present = [m for m in members if (root / m).exists()]
    missing = tuple(m for m in members if m not in present)
    files: list[Path] = []
    for member in present:
        path = root / member
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files.extend(p for p in candidates if _shipped(p.relative_to(root)))

    files.sort(key=lambda p: p.relative_to(root).as_posix())

    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in files:
            rel = file.relative_to(root).as_posix()
            info = tarfile.TarInfo(rel)
            data = file.read_bytes()
            info.size = len(data)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            # Keep the executable bit (install scripts), drop everything else about the local file.
            info.mode = 0o755 if file.stat().st_mode & 0o111 else 0o644
            tar.addfile(info, io.BytesIO(data))

    out.parent.mkdir(parents=True, exist_ok=True)
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, filename="") as gz:
        gz.write(tar_bytes.getvalue())
    payload = compressed.getvalue()
    out.write_bytes(payload)
    return Archive(
        path=out,
        sha256=hashlib.sha256(payload).hexdigest(),
        members=tuple(f.relative_to(root).as_posix() for f in files),
        missing=missing,
    )


def _shipped(rel: Path) -> bool:
    return not (_SKIP_PARTS & set(rel.parts)) and rel.suffix not in _SKIP_SUFFIXES
