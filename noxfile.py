"""Developer and CI tasks. `nox -l` lists them; every session says what it does."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["test"]

PYTHON = "3.11"
CDKTF_CLI = "cdktf-cli@0.21.0"
STACK_DIR = "cdktf.out/stacks/bakesight"
# jsii prints a large banner on every run under Node 20, which CI machines have; the cdktf CLI
# otherwise phones HashiCorp's checkpoint service and logs an error where there is no internet.
STACKS_ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CHECKPOINT_DISABLE": "1"}


def _install(session: nox.Session, *extras: str) -> None:
    """Install the project with the given extras into the session's venv."""
    if "ai" in extras:
        # torch first and exactly: the pinned CPU wheel, never a multi-gigabyte CUDA download.
        session.install("torch==2.13.0")
    session.install("-e", f".[{','.join(extras)}]")


@nox.session(python=PYTHON)
def test(session: nox.Session) -> None:
    """Run every test that needs neither the cloud nor a GPU (MySQL: testcontainers or mariadbd)."""
    _install(session, "central", "ai", "test", "stacks")
    session.run("pytest", *session.posargs, env=STACKS_ENV)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style (ruff) and types (mypy)."""
    _install(session, "central", "ai", "test", "stacks", "bench", "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run(
        "mypy",
        "contract",
        "servicekit",
        "central",
        "ai",
        "demo",
        "bench",
        "stacks",
        "fixtures",
        "ops",
        "tools",
        "testkit",
        "tests",
        "noxfile.py",
    )


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: Central and the AI as local processes; fixture trays through checkout."""
    _install(session, "central", "ai")
    session.run("python", "-m", "demo", *session.posargs)


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
def bench_central(session: nox.Session) -> None:
    """Benchmark Central against a minimal sync peer on the tests' MySQL (needs wrk)."""
    _install(session, "central", "test", "bench")
    session.run("python", "-m", "bench.central_bench", *session.posargs)


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


@nox.session(venv_backend="none")
def gpu_smoke(session: nox.Session) -> None:
    """On the GPU VM after install_ai.sh: the pipeline on CUDA vs the CPU, GPU latency per tray."""
    # The service's own venv, as install_ai.sh made it (torch built for the driver's CUDA): a
    # fresh venv would fetch torch again, possibly a build the driver cannot run.
    python = Path(".venv/bin/python")
    if not python.is_file():
        session.error(
            "no .venv here: run `sudo bash scripts/install_ai.sh` in this folder first "
            "(on the VM: cd /opt/ai-inference)"
        )
    session.run(str(python), "-m", "ai", "smoke", *session.posargs, external=True)


# --- the Seoul infrastructure (stacks/, cdktf.json) ------------------------------------------


@nox.session(python=PYTHON)
def synth(session: nox.Session) -> None:
    """Synthesize the Seoul stack to cdktf.out/; fail on checkov findings not in the skip list."""
    _install(session, "stacks", "policy")
    env = dict(STACKS_ENV)
    if not _project_id():
        # The policy gate needs no real project; deploy and destroy refuse without one.
        env["BAKESIGHT_PROJECT_ID"] = "bakesight-policy-check"
        session.log("no project id configured: synthesizing for project 'bakesight-policy-check'")
    session.run("python", "-m", "stacks", env=env)
    report, log = (
        Path(session.create_tmp()) / "checkov.json",
        Path(session.create_tmp()) / "checkov.log",
    )
    with report.open("w") as out, log.open("w") as err:
        session.run(
            "checkov",
            "--directory",
            STACK_DIR,
            "--framework",
            "terraform_json",
            "--output",
            "json",
            "--quiet",
            "--skip-download",
            stdout=out,
            stderr=err,
            success_codes=[0, 1],
        )
    session.run(
        "python", "-m", "stacks.policy_gate", str(report), str(log), "stacks/checkov-skips.txt"
    )


@nox.session(python=PYTHON)
def preflight(session: nox.Session) -> None:
    """Check the project before deploying: login, billing, GPU quota and zone, org policies."""
    _refuse_without_project(session)
    session.run("python", "-m", "ops", "preflight", *_ops_args(), *session.posargs)


@nox.session(python=PYTHON)
def deploy(session: nox.Session) -> None:
    """Preflight, tests and synth gate, the state bucket, then `cdktf deploy` the Seoul stack."""
    _refuse_without_project(session)
    _require_tools(session, "npx", "gcloud")
    session.run("python", "-m", "ops", "preflight", *_ops_args())
    session.run(sys.executable, "-m", "nox", "-s", "test", "synth", external=True)
    session.run("python", "-m", "ops", "state", *_ops_args())
    _install(session, "stacks")
    session.run(
        "npx",
        "--yes",
        CDKTF_CLI,
        "deploy",
        "--auto-approve",
        *session.posargs,
        env=STACKS_ENV,
        external=True,
    )
    session.log("deployed; next: `nox -s verify`")


@nox.session(python=PYTHON)
def verify(session: nox.Session) -> None:
    """Runbook §11 against the deployed Central: a tray through review to checkout, and /ready."""
    _refuse_without_project(session)
    session.run("python", "-m", "ops", "verify", *_ops_args(), *session.posargs)


@nox.session(python=PYTHON)
def seed(session: nox.Session) -> None:
    """After the first deploy: the demo store, products and reference photos, through Central."""
    _refuse_without_project(session)
    # What the catalog's photo generator and the counter client need; no torch.
    session.install("httpx==0.28.1", "numpy==2.4.6", "pillow==13.0.0")
    session.run("python", "-m", "ops", "seed", *_ops_args(), *session.posargs)


@nox.session(python=PYTHON)
def cost(session: nox.Session) -> None:
    """The demo's two-week cost from the stack's settings and the committed price table."""
    session.run("python", "-m", "ops", "cost", *session.posargs)


@nox.session(python=PYTHON)
def destroy(session: nox.Session) -> None:
    """`cdktf destroy` everything (no tests first), then list whatever still bills."""
    _refuse_without_project(session)
    _require_tools(session, "npx", "gcloud")
    _install(session, "stacks")
    session.run("python", "-m", "ops", "destroy", *_ops_args(), *session.posargs, env=STACKS_ENV)


def _project_id() -> str:
    """The project id the stack will use: BAKESIGHT_PROJECT_ID, else cdktf.json's context."""
    context = json.loads(Path("cdktf.json").read_text()).get("context", {})
    return os.environ.get("BAKESIGHT_PROJECT_ID") or str(context.get("project_id") or "")


def _ops_args() -> list[str]:
    return ["--project", _project_id()]


def _refuse_without_project(session: nox.Session) -> None:
    if not _project_id():
        session.error(
            'no project id: set BAKESIGHT_PROJECT_ID (or "project_id" in cdktf.json context)'
        )


def _require_tools(session: nox.Session, *tools: str) -> None:
    for tool in tools:
        if not shutil.which(tool):
            session.error(
                f"{tool} not found: "
                + (
                    "install Node.js 20+ (the cdktf CLI runs through npx)"
                    if tool == "npx"
                    else "install the Google Cloud CLI (cloud.google.com/sdk)"
                )
            )


@nox.session(python=PYTHON)
def eval(session: nox.Session) -> None:
    """Recognition per tray family, with and without a capture; fails when an aim is missed."""
    _install(session, "ai")
    session.run("python", "-m", "tools.recognition.evaluate", *session.posargs)


@nox.session(python=PYTHON)
def segeval(session: nox.Session) -> None:
    """Segmentation per tray family and mode against the generator's truth (split, merged, ...)."""
    _install(session, "ai")
    session.run("python", "-m", "tools.recognition.segeval", *session.posargs)


@nox.session(python=PYTHON)
def bench_ai(session: nox.Session) -> None:
    """Recognition latency per stage and per tray (2 x 1280x960, 10 items), in-process and HTTP."""
    _install(session, "ai")
    session.run("python", "-m", "tools.recognition.bench", "--http", *session.posargs)


@nox.session(python=PYTHON)
def fit_recognition(session: nox.Session) -> None:
    """Refit the embedder's metric and the decision thresholds on the fitting families only."""
    _install(session, "ai")
    session.run("python", "-m", "tools.recognition.metric", *session.posargs)
    session.run("python", "-m", "tools.recognition.calibrate", *session.posargs)
