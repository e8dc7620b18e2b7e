"""What a Dockerfile copies from its build context, and what a .dockerignore lets through.

Central's Cloud Build context is derived from central/Dockerfile instead of a hand-kept list: a
file the Dockerfile copies but the uploaded archive lacks fails the build only at deploy time,
after the database and the VM exist.
"""

from __future__ import annotations

import fnmatch
import json
import shlex


class DockerfileError(ValueError):
    """A COPY/ADD line this reader cannot turn into context paths (e.g. a glob or a URL)."""


def copy_sources(dockerfile: str) -> tuple[str, ...]:
    """The build-context paths every COPY/ADD (not `--from=` a stage) reads, in order, once."""
    sources: list[str] = []
    for instruction in _instructions(dockerfile):
        keyword, _, rest = instruction.partition(" ")
        if keyword.upper() not in ("COPY", "ADD"):
            continue
        rest = rest.strip()
        args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        flags = [a for a in args if a.startswith("--")]
        if any(f.startswith("--from=") for f in flags):
            continue  # from another stage or image, not from the context
        paths = [a for a in args if not a.startswith("--")]
        if len(paths) < 2:
            raise DockerfileError(f"{keyword} needs a source and a destination: {instruction!r}")
        for source in paths[:-1]:
            if any(c in source for c in "*?[") or "://" in source:
                raise DockerfileError(f"cannot derive the build context from {source!r}")
            path = source.removeprefix("./").rstrip("/") or "."
            if path not in sources:
                sources.append(path)
    return tuple(sources)


def dockerignore_allows(patterns: str, path: str) -> bool:
    """Whether Docker sends `path` (relative, POSIX) with this .dockerignore: last match wins."""
    allowed = True
    for raw in patterns.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip().removeprefix("./").rstrip("/")
        if _matches(pattern, path):
            allowed = negate
    return allowed


def _matches(pattern: str, path: str) -> bool:
    """A pattern matches the path itself or any folder above it (Docker excludes whole trees)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern == "**":
        return True
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(fnmatch.fnmatchcase(part, tail) for part in parts)
    return any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates)


def _instructions(dockerfile: str) -> list[str]:
    """Logical lines: comments dropped, backslash continuations joined."""
    logical: list[str] = []
    current = ""
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append((current + stripped).strip())
        current = ""
    if current.strip():
        logical.append(current.strip())
    return logical
