"""Developer and CI tasks. `nox -l` lists them; every session says what it does."""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["test"]

PYTHON = "3.11"


def _install(session: nox.Session, *extras: str) -> None:
    """Install the project with the given extras into the session's venv."""
    if "ai" in extras:
        # torch first and exactly: the pinned CPU wheel, never a multi-gigabyte CUDA download.
        session.install("torch==2.13.0")
    session.install("-e", f".[{','.join(extras)}]")


@nox.session(python=PYTHON)
def test(session: nox.Session) -> None:
    """Run every test that needs neither the cloud nor a GPU (MySQL: testcontainers or mariadbd)."""
    _install(session, "central", "ai", "test")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style (ruff) and types (mypy)."""
    _install(session, "central", "ai", "test", "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "central", "ai")


@nox.session(python=PYTHON)
def central(session: nox.Session) -> None:
    """Run Central on the embedded database at http://127.0.0.1:8080, seeded with the demo store."""
    _install(session, "central")
    env = {
        "ADMIN_KEY": os.environ.get("ADMIN_KEY", "local-admin-key"),
        "AI_ADMIN_KEY": os.environ.get("AI_ADMIN_KEY", "local-ai-key"),
        "CREATE_TABLES": "1",
    }
    session.run("python", "-m", "central", "seed", env=env)
    session.run(
        "python", "-m", "central", "serve", "--host", "127.0.0.1", *session.posargs, env=env
    )


@nox.session(python=PYTHON)
def migrate(session: nox.Session) -> None:
    """Apply Central's schema migrations to DATABASE_URL (the embedded database by default)."""
    _install(session, "central")
    session.run("python", "-m", "central", "migrate")


@nox.session(python=PYTHON)
def ai(session: nox.Session) -> None:
    """Run the AI service at http://127.0.0.1:9000 (mock mode unless AI_MOCK_MODE=0)."""
    _install(session, "ai")
    env = {
        "AI_ADMIN_KEY": os.environ.get("AI_ADMIN_KEY", "local-ai-key"),
        "AI_MOCK_MODE": os.environ.get("AI_MOCK_MODE", "1"),
        "AI_HOST": os.environ.get("AI_HOST", "127.0.0.1"),
    }
    session.run("python", "-m", "ai", "serve", *session.posargs, env=env)


@nox.session(python=PYTHON)
def gpu_smoke(session: nox.Session) -> None:
    """On the GPU VM: the real pipeline answers the trays on CUDA as on CPU (`-- --cpu`: CPU)."""
    _install(session, "ai")
    session.run("python", "-m", "ai", "smoke", *session.posargs)
