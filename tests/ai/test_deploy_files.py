"""The install script and systemd unit: LF endings, valid bash, a unit matching the script."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

from ai.__main__ import CONFIG_ERROR

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(ROOT.glob("scripts/*.sh")) + sorted((ROOT / ".ci").glob("*"))
UNIT = ROOT / "systemd" / "ai-inference.service"


def test_there_are_scripts_to_check():
    assert ROOT / "scripts" / "install_ai.sh" in SCRIPTS


def test_scripts_and_units_have_no_carriage_returns():
    for path in [*SCRIPTS, UNIT]:
        assert b"\r" not in path.read_bytes(), f"{path} has CR line endings (/bin/bash^M)"


def test_git_keeps_scripts_lf_on_every_checkout():
    attributes = (ROOT / ".gitattributes").read_text()

    assert re.search(r"^\*\.sh\s+text\s+eol=lf$", attributes, re.MULTILINE)


def test_scripts_are_valid_bash():
    for path in SCRIPTS:
        assert path.read_text().startswith("#!/usr/bin/env bash\n"), path
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path}: {result.stderr}"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(UNIT)
    return parser


def test_the_unit_runs_the_service_as_the_runbook_expects():
    service = unit()["Service"]

    assert service["User"] not in ("", "root")
    assert service["EnvironmentFile"] == "/etc/ai-inference.env"
    assert service["WorkingDirectory"] == "/opt/ai-inference"
    assert service["ExecStart"] == "/opt/ai-inference/.venv/bin/python -m ai serve"
    assert service["Restart"] == "on-failure"
    assert service["StandardOutput"] == service["StandardError"] == "journal"
    assert service["RestartPreventExitStatus"] == str(CONFIG_ERROR)
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def test_the_install_script_creates_what_the_unit_uses():
    script = (ROOT / "scripts" / "install_ai.sh").read_text()
    service = unit()["Service"]

    assert f'SERVICE_USER="{service["User"]}"' in script
    assert 'VENV="${APP_DIR}/.venv"' in script
    assert 'ENV_FILE="${AI_ENV_FILE:-/etc/ai-inference.env}"' in script
    assert 'TORCH_SPEC="torch==2.13.0"' in script
    # The service and nox (for `nox -s gpu_smoke` with this venv).
    assert '"${APP_DIR}[ai,smoke]"' in script


def test_the_install_checks_import_modules_that_exist():
    script = (ROOT / "scripts" / "install_ai.sh").read_text()
    [check] = [line for line in script.splitlines() if "-c 'import ai." in line]
    modules = check.split("-c 'import ", 1)[1].split("'", 1)[0].split(", ")
    for module in modules:
        path = ROOT / Path(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), module
