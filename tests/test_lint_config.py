"""The pre-commit hook runs the same ruff as `nox -s lint`, so a commit that passes it passes CI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pre_commit_pins_the_ruff_of_the_lint_extra() -> None:
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pinned = next(r.split("==")[1] for r in lint["lint"] if r.startswith("ruff=="))
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    assert "astral-sh/ruff-pre-commit" in config
    assert re.findall(r"rev: v(\S+)", config) == [pinned]
    assert "id: ruff-format" in config


def test_stale_noqa_comments_are_lint_errors() -> None:
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "RUF100" in ruff["select"]
