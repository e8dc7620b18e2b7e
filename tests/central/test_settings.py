"""Settings come from the environment; every problem is named at once, never a value or a trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from central.dburl import parse_database_url
from central.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"ADMIN_KEY": "admin-key-123", "AI_ADMIN_KEY": "ai-key-12345"}


def test_defaults_run_on_the_embedded_database() -> None:
    s = load_settings(GOOD)
    assert s.database.dialect == "sqlite" and s.port == 8080 and s.create_tables is False
    assert s.ai_base_url == "http://127.0.0.1:9000"


def test_every_problem_is_named_in_one_message() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(
            {
                "ADMIN_KEY": "short",
                "PORT": "99999",
                "AI_TIMEOUT_SECONDS": "-1",
                "CREATE_TABLES": "maybe",
                "AI_BASE_URL": "ftp://x",
                "DATABASE_URL": "postgres://u:hunter2@h/db",
            }
        )
    message = str(err.value)
    assert message.startswith("settings: ") and "\n" not in message
    for problem in [
        "ADMIN_KEY must be at least 8 characters",
        "AI_ADMIN_KEY is required",
        "PORT must be an integer 1..65535 (got '99999')",
        "AI_TIMEOUT_SECONDS must be a number > 0 (got '-1')",
        "CREATE_TABLES must be a flag: 1/0, true/false, yes/no or on/off (got 'maybe')",
        "AI_BASE_URL must be an http:// or https:// URL",
        "DATABASE_URL is invalid: unsupported scheme",
    ]:
        assert problem in message
    assert "hunter2" not in message and "short" not in message and "ftp" not in message


def test_the_cli_prints_one_line_and_no_trace() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"ADMIN_KEY", "AI_ADMIN_KEY", "DATABASE_URL"}
    }
    proc = subprocess.run(
        [sys.executable, "-m", "central", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "settings: ADMIN_KEY is required; AI_ADMIN_KEY is required"
    assert "Traceback" not in proc.stderr + proc.stdout


def test_runbook_url_maps_onto_aiomysql_keeping_socket_and_charset() -> None:
    url = "mysql+pymysql://demo:p%40ss@/bake_sight_demo?unix_socket=/cloudsql/proj:asia-northeast3:bake-sight-mysql&charset=utf8mb4"
    target = parse_database_url(url)
    assert target.dialect == "mysql" and target.url.drivername == "mysql+aiomysql"
    assert (target.url.username, target.url.password) == ("demo", "p@ss")
    assert target.url.host is None and target.url.database == "bake_sight_demo"
    connect = target.engine_options["connect_args"]
    assert connect["unix_socket"] == "/cloudsql/proj:asia-northeast3:bake-sight-mysql"
    assert connect["charset"] == "utf8mb4"
    assert (
        "p%40ss" not in target.describe()
        and "/cloudsql/proj:asia-northeast3:bake-sight-mysql" in target.describe()
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql+pymysql://u:p@/db", "needs a host"),
        ("mysql+pymysql://u:p@host/", "names no database"),
        ("mysql+pymysql://u:p@host/db?sslmode=require", "unsupported MySQL URL option"),
        ("mysql+pymysql://u:p@host:notaport/db", "invalid port"),
        ("sqlite://", "file path"),
        ("oracle://x", "unsupported scheme"),
    ],
)
def test_bad_database_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_database_url(url)


def test_tray_archive_is_a_folder_by_default_or_a_bucket() -> None:
    assert load_settings(GOOD).tray_archive.describe() == "var/trays"
    cloud = load_settings({**GOOD, "TRAY_ARCHIVE": "gs://proj-bakesight-tray/trays"})
    assert cloud.tray_archive.describe() == "gs://proj-bakesight-tray/trays"


def test_bad_archive_and_staff_key_are_named_in_the_one_line() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({**GOOD, "TRAY_ARCHIVE": "s3://bucket/x", "STAFF_KEY": "short"})
    message = str(err.value)
    assert "TRAY_ARCHIVE must be a folder or gs://bucket/prefix" in message
    assert "STAFF_KEY must be at least 8 characters" in message
    assert "\n" not in message
    with pytest.raises(SettingsError, match="STAFF_KEY must differ from ADMIN_KEY"):
        load_settings({**GOOD, "STAFF_KEY": GOOD["ADMIN_KEY"]})
    assert load_settings(GOOD).staff_key is None
