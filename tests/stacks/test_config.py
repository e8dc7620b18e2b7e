"""Configuration: defaults, precedence, and one clear line for everything wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import ConfigError, ResourceNames, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load(env: dict[str, str], context: dict[str, object] | None = None):
    return load_config((context or {}).get, env)


def test_defaults_are_seoul_in_a_zone_with_t4_gpus() -> None:
    config = _load({"BAKESIGHT_PROJECT_ID": "bakesight-demo"})
    # The runbook's asia-northeast3-a has no T4: the VM would fail after everything else exists.
    assert (config.region, config.zone) == ("asia-northeast3", "asia-northeast3-b")
    assert config.build_region == "asia-east1"
    assert config.opening_hours.start_cron == "0 8 * * *"
    assert config.opening_hours.stop_cron == "0 22 * * *"
    assert config.opening_hours.time_zone == "Asia/Seoul"
    assert config.deletion_protection is False and config.builds_central


def test_environment_wins_over_context() -> None:
    context = {"project_id": "from-context", "prefix": "ctx", "deletion_protection": True}
    config = _load({"BAKESIGHT_PROJECT_ID": "from-env-1", "BAKESIGHT_PREFIX": "env"}, context)
    assert (config.project_id, config.prefix, config.deletion_protection) == (
        "from-env-1",
        "env",
        True,
    )


def test_missing_project_id_names_both_ways_to_set_it() -> None:
    with pytest.raises(ConfigError) as error:
        _load({})
    message = str(error.value)
    assert "project_id" in message and "BAKESIGHT_PROJECT_ID" in message
    assert "cdktf.json" in message and "\n" not in message


def test_runbook_underscore_prefix_is_refused_at_synth() -> None:
    with pytest.raises(ConfigError, match="prefix 'bake_sight' is not valid in GCP names"):
        _load({"BAKESIGHT_PROJECT_ID": "bakesight-demo", "BAKESIGHT_PREFIX": "bake_sight"})


def test_runbook_names_are_each_rejected_with_the_rule() -> None:
    names = ResourceNames.derive("bakesight-demo", "bake_sight")
    problems = " ".join(names.problems())
    for runbook_name in (
        "bake_sight-vpc",
        "bake_sight-mysql",
        "bake_sight-ai-01",
        "bake_sight-central",
    ):
        assert repr(runbook_name) in problems
    assert ResourceNames.derive("bakesight-demo", "bake-sight").problems() == []


def test_names_too_long_for_gcp_are_reported_together() -> None:
    with pytest.raises(ConfigError) as error:
        _load({"BAKESIGHT_PROJECT_ID": "bakesight-demo", "BAKESIGHT_PREFIX": "a" * 50})
    message = str(error.value)
    assert "central_service" in message and "central_account" in message
    assert "bucket_tray" in message and "scheduler_role" in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BAKESIGHT_PROJECT_ID": "Bad_Project"}, "project_id 'Bad_Project'"),
        ({"BAKESIGHT_ZONE": "us-central1-a"}, "zone 'us-central1-a' is not a zone of region"),
        ({"BAKESIGHT_OPENING_HOURS": "8-22"}, "opening_hours '8-22' is not HH:MM-HH:MM"),
        ({"BAKESIGHT_OPENING_HOURS": "09:00-09:00"}, "start and stop are the same"),
        ({"BAKESIGHT_DELETION_PROTECTION": "maybe"}, "deletion_protection 'maybe'"),
        ({"BAKESIGHT_CENTRAL_IMAGE": "not an image"}, "central_image 'not an image'"),
    ],
)
def test_invalid_settings_are_named(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        _load({"BAKESIGHT_PROJECT_ID": "bakesight-demo", **env})


def test_app_reports_bad_configuration_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAKESIGHT_")}
    env["BAKESIGHT_PREFIX"] = "bake_sight"
    result = subprocess.run(
        [sys.executable, "-m", "stacks"],
        cwd=REPO_ROOT,
        env={**env, "CDKTF_OUTDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bakesight stacks: missing configuration: project_id")
    assert "Traceback" not in result.stderr + result.stdout


def test_a_zone_without_the_gpu_is_refused_at_synth_naming_the_good_ones() -> None:
    with pytest.raises(ConfigError) as error:
        _load({"BAKESIGHT_PROJECT_ID": "bakesight-demo", "BAKESIGHT_ZONE": "asia-northeast3-a"})
    message = str(error.value)
    assert "zone 'asia-northeast3-a' offers no nvidia-tesla-t4 GPU" in message
    assert "asia-northeast3-b, asia-northeast3-c" in message and "gpu-regions-zones" in message
    assert _load({"BAKESIGHT_PROJECT_ID": "bakesight-demo", "BAKESIGHT_ZONE": "asia-northeast3-c"})


def test_a_build_region_new_projects_may_not_use_is_refused() -> None:
    with pytest.raises(ConfigError, match="build_region 'asia-northeast3' may refuse builds"):
        _load(
            {"BAKESIGHT_PROJECT_ID": "bakesight-demo", "BAKESIGHT_BUILD_REGION": "asia-northeast3"}
        )


def test_cdktf_json_zone_is_valid() -> None:
    import json

    context = json.loads((REPO_ROOT / "cdktf.json").read_text())["context"]
    config = _load({"BAKESIGHT_PROJECT_ID": "bakesight-demo"}, context)
    assert config.zone == "asia-northeast3-b"


def test_the_custom_role_id_leaves_room_for_the_random_suffix() -> None:
    long_prefix = "b" + "-x" * 25  # 51 characters: fine as a prefix, too long a role id
    names = ResourceNames.derive("bakesight-demo", long_prefix)
    assert any(p.startswith("scheduler_role") for p in names.problems())
