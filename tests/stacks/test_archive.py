"""The archives the VM installs from and Cloud Build builds from, tested on a temporary repo."""

from __future__ import annotations

import tarfile
from pathlib import Path

from stacks.archive import build_archive
from stacks.stack import AI_REQUIRED, AI_SOURCES
from tests.stacks.conftest import fake_repo


def test_ai_archive_holds_what_the_vm_needs_and_no_caches(tmp_path: Path) -> None:
    repo = fake_repo(tmp_path / "repo")
    archive = build_archive(repo, AI_SOURCES, tmp_path / "out" / "ai.tar.gz")
    with tarfile.open(archive.path) as tar:
        names = tar.getnames()
        install = tar.getmember("scripts/install_ai.sh")
        assert install.mode & 0o111, "install script must stay executable"
        unit = tar.extractfile("systemd/ai-inference.service")
        assert unit is not None and unit.read().startswith(b"[Service]")
    assert set(AI_REQUIRED) - {"noxfile.py", "ai/smoke_samples/manifest.json"} <= set(names)
    assert "ai/server.py" in names and "pyproject.toml" in names and "README.md" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("central/")]
    assert archive.missing == ("noxfile.py",)


def test_archive_is_reproducible_and_changes_with_content(tmp_path: Path) -> None:
    repo = fake_repo(tmp_path / "repo")
    first = build_archive(repo, AI_SOURCES, tmp_path / "a.tar.gz")
    second = build_archive(repo, AI_SOURCES, tmp_path / "b.tar.gz")
    assert first.sha256 == second.sha256
    (repo / "ai" / "server.py").write_text("print('changed')\n")
    assert build_archive(repo, AI_SOURCES, tmp_path / "c.tar.gz").sha256 != first.sha256


def test_missing_members_are_packaged_around_and_reported(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "ai").mkdir(parents=True)
    (repo / "ai" / "x.py").write_text("")
    archive = build_archive(repo, AI_SOURCES, tmp_path / "ai.tar.gz")
    assert archive.members == ("ai/x.py",)
    assert archive.missing == (
        "contract",
        "servicekit",
        "scripts",
        "systemd",
        "pyproject.toml",
        "README.md",
        "noxfile.py",
    )
