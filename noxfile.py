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
    if "ai" in extras:  # the exact pin first, so nothing else resolves a CUDA torch
        session.install("torch==2.13.0")
    session.install("-e", f".[{','.join(extras)}]")


@nox.session(python=PYTHON)
def test(session: nox.Session) -> None:
    """Run every test that needs neither the cloud nor a GPU (MySQL via testcontainers/mariadbd)."""
    _install(session, "central", "ai", "test")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style (ruff) and types (mypy)."""
    _install(session, "central", "test", "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "central")


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
    session.run("python", "-m", "central", "serve", *session.posargs, env=env)


@nox.session(python=PYTHON)
def migrate(session: nox.Session) -> None:
    """Apply Central's schema migrations to DATABASE_URL (the embedded database by default)."""
    _install(session, "central")
    session.run("python", "-m", "central", "migrate")


@nox.session(python=PYTHON)
def eval(session: nox.Session) -> None:
    """Recognition metrics (cAcc, ACD, mCIoU, automation, wrong-AUTO) on the held-out split."""
    _install(session, "ai")
    session.run("python", "-m", "ai.recognition.evaluate", *session.posargs)


@nox.session(python=PYTHON)
def bench_ai(session: nox.Session) -> None:
    """In-process recognition latency per stage and per tray (2 x 1280x960, 10 items), p50/p99."""
    _install(session, "ai")
    session.run("python", "-m", "ai.recognition.bench", *session.posargs)
