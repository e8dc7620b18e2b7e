"""Synthesize the stack once per test session: loading the provider bindings takes ~13 s."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from stacks.config import StackConfig

PROJECT = "bakesight-test"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Synth:
    """One synthesized stack: the JSON text (for cdktf's Testing matchers) and its parsed form."""

    text: str
    doc: dict[str, Any]
    work_dir: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.doc["resource"].get(resource_type, {})

    def resource(self, resource_type: str, name: str) -> dict[str, Any]:
        return self.resources(resource_type)[name]


def fake_repo(root: Path) -> Path:
    """A tiny tree for the archive mechanics (caches, modes, reproducibility); the stack itself is
    synthesized from the real repository."""
    files = {
        "ai/__init__.py": "",
        "ai/server.py": "print('ai')\n",
        "ai/__pycache__/server.cpython-311.pyc": "junk",
        "contract/__init__.py": "",
        "servicekit/__init__.py": "",
        "scripts/install_ai.sh": "#!/bin/bash\necho install\n",
        "systemd/ai-inference.service": "[Service]\nEnvironmentFile=/etc/ai-inference.env\n",
        "central/__init__.py": "",
        "pyproject.toml": "[project]\nname = 'bakesight'\n",
        "README.md": "# BakeSight\n",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (root / "scripts/install_ai.sh").chmod(0o755)
    return root


@pytest.fixture(scope="session")
def stacks_repo() -> Path:
    """The real checkout: the archives hold what the VM and Cloud Build will really get."""
    return REPO_ROOT


def _synth(config: StackConfig, repo: Path, work_dir: Path) -> Synth:
    from cdktf import Testing

    from stacks.stack import BakeSightStack

    app = Testing.app()
    stack = BakeSightStack(app, "bakesight", config, repo_root=repo, work_dir=work_dir)
    text = Testing.synth(stack)
    return Synth(text=text, doc=json.loads(text), work_dir=work_dir)


@pytest.fixture(scope="session")
def synth(stacks_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The default stack: Central built from source by Cloud Build, deletion protection off."""
    return _synth(StackConfig(project_id=PROJECT), stacks_repo, tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="session")
def synth_with_image(stacks_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """A stack given a ready image and deletion protection (same process, no second import)."""
    config = StackConfig(
        project_id=PROJECT,
        central_image="asia-northeast3-docker.pkg.dev/other/repo/central:v1",
        deletion_protection=True,
        create_tables=False,
    )
    return _synth(config, stacks_repo, tmp_path_factory.mktemp("work-image"))
