"""The two archives the stack uploads hold everything their consumers read, from the real files.

Central's build context must hold every COPY source of the real central/Dockerfile (and the
.dockerignore must let them through); the VM's archive must hold what install_ai.sh, the unit and
`nox -s gpu_smoke` use, and must run without anything it does not ship (fixtures/, tests/).
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from stacks.archive import build_archive
from stacks.central_image import central_sources
from stacks.dockerfile import DockerfileError, copy_sources, dockerignore_allows
from stacks.stack import AI_SOURCES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def central_archive(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("central") / "central.tar.gz"
    return set(build_archive(ROOT, central_sources(ROOT), out).members)


@pytest.fixture(scope="module")
def ai_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The VM's archive, unpacked as the VM unpacks it."""
    base = tmp_path_factory.mktemp("ai")
    archive = build_archive(ROOT, AI_SOURCES, base / "ai.tar.gz")
    assert archive.missing == ()
    tree = base / "release"
    with tarfile.open(archive.path) as tar:
        tar.extractall(tree, filter="data")
    return tree


def test_every_copy_source_of_the_real_dockerfile_is_in_the_build_context(
    central_archive: set[str],
) -> None:
    dockerfile = (ROOT / "central" / "Dockerfile").read_text()
    ignore = (ROOT / ".dockerignore").read_text()
    sources = copy_sources(dockerfile)
    assert "contract" in sources and "central" in sources
    for source in sources:
        shipped = [m for m in central_archive if m == source or m.startswith(source + "/")]
        assert shipped, f"central/Dockerfile copies {source}, the uploaded context lacks it"
        assert all(dockerignore_allows(ignore, m) for m in shipped if "__pycache__" not in m), (
            f".dockerignore drops part of {source}"
        )
    assert "central/Dockerfile" in central_archive and ".dockerignore" in central_archive
    # Central needs no AI code, and the context carries nothing else.
    assert not [m for m in central_archive if m.startswith(("ai/", "fixtures/", "tests/"))]


def test_the_context_follows_the_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "central").mkdir()
    (tmp_path / "central" / "Dockerfile").write_text(
        "FROM python:3.11-slim AS build\n"
        "COPY pyproject.toml README.md ./\n"
        "COPY --chown=1:1 central ./central\n"
        'COPY ["contract/", "./contract"]\n'
        "ADD extra \\\n    /opt/extra\n"
        "FROM python:3.11-slim\n"
        "COPY --from=build /install /usr/local\n"
    )
    assert central_sources(tmp_path) == (
        "pyproject.toml",
        "README.md",
        "central",
        "contract",
        "extra",
        "central/Dockerfile",
        ".dockerignore",
    )
    with pytest.raises(DockerfileError):
        copy_sources("COPY *.toml ./\n")


def test_the_vm_archive_holds_what_install_ai_sh_reads(ai_tree: Path) -> None:
    script = (ai_tree / "scripts" / "install_ai.sh").read_text()
    read = set(re.findall(r"\$\{APP_DIR\}/([A-Za-z0-9_.]+)", script))
    read -= {".venv", "wheels"}  # created by the script / optional
    assert read == {"pyproject.toml", "ai"}
    for rel in read:
        assert (ai_tree / rel).exists(), rel
    pyproject = (ai_tree / "pyproject.toml").read_text()
    assert 'readme = "README.md"' in pyproject and (ai_tree / "README.md").is_file()
    assert re.search(r"^smoke = \[", pyproject, re.MULTILINE)  # the extra install_ai.sh asks for


def test_the_vm_archive_holds_what_the_unit_runs(ai_tree: Path) -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ai_tree / "systemd" / "ai-inference.service")
    exec_start = unit["Service"]["ExecStart"].split()
    assert exec_start[1:3] == ["-m", "ai"] and (ai_tree / "ai" / "__main__.py").is_file()
    assert exec_start[0] == unit["Service"]["WorkingDirectory"] + "/.venv/bin/python"


def test_gpu_smoke_runs_from_the_vm_archive_alone(ai_tree: Path) -> None:
    noxfile = ast.parse((ai_tree / "noxfile.py").read_text())
    sessions = {f.name: f for f in noxfile.body if isinstance(f, ast.FunctionDef)}
    assert ".venv/bin/python" in ast.unparse(sessions["gpu_smoke"])  # install_ai.sh's VENV
    manifest = json.loads((ai_tree / "ai" / "smoke_samples" / "manifest.json").read_text())
    named = [n for names in manifest["products"].values() for n in names]
    named += [n for tray in manifest["trays"] for n in tray["frames"]]
    assert all((ai_tree / "ai" / "smoke_samples" / n).is_file() for n in named)
    assert not (ai_tree / "fixtures").exists() and not (ai_tree / "tests").exists()
    # The smoke itself, from the unpacked archive only (the mock pipeline keeps it fast).
    result = subprocess.run(
        [sys.executable, "-m", "ai", "smoke", "--cpu", "--pipeline", "mock", "--repeat", "1"],
        capture_output=True,
        text=True,
        cwd=ai_tree,
        env={**os.environ, "PYTHONPATH": str(ai_tree)},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"all {len(manifest['trays']) + 4} trays answer" in result.stdout


def test_the_readmes_gpu_smoke_command_runs_in_the_unpacked_archive(ai_tree: Path) -> None:
    # As on the VM after install_ai.sh: `.venv/bin/python -m nox -s gpu_smoke` in the release
    # folder, nox and the service in that venv (here: this interpreter; the mock pipeline, CPU).
    venv_bin = ai_tree / ".venv" / "bin"
    venv_bin.mkdir(parents=True, exist_ok=True)
    python = venv_bin / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    readme = (ROOT / "README.md").read_text()
    assert "sudo .venv/bin/python -m nox -s gpu_smoke" in readme

    result = subprocess.run(
        [
            ".venv/bin/python",
            "-m",
            "nox",
            "-s",
            "gpu_smoke",
            "--",
            "--cpu",
            "--pipeline",
            "mock",
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=ai_tree,
        env={**os.environ, "PYTHONPATH": str(ai_tree)},
        timeout=180,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "gpu_smoke: ok: all" in result.stdout + result.stderr


def test_nothing_shipped_to_the_vm_imports_dev_code(ai_tree: Path) -> None:
    dev_only = ("fixtures", "tests", "tools", "ops", "bench", "demo", "stacks", "central")
    offenders = []
    for path in sorted((ai_tree / "ai").rglob("*.py")) + sorted(
        (ai_tree / "contract").rglob("*.py")
    ):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ai_tree)}: {n}" for n in names if n.split(".")[0] in dev_only
            ]
    assert offenders == []
