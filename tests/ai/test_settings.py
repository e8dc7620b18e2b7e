"""Settings come from the environment; a bad environment is one message naming every variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ai.settings import SettingsError, load_settings


def test_defaults_serve_port_9000_with_the_real_pipeline():
    settings = load_settings({"AI_ADMIN_KEY": "s3cret-value"})

    assert settings.port == 9000
    assert settings.mock_mode is False
    assert settings.device == "auto"
    assert str(settings.admin_key) == "s3cret-value"
    assert "s3cret-value" not in repr(settings)  # logs and tracebacks must not show the key


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {"AI_MOCK_MODE": "maybe", "AI_PORT": "70000", "AI_MAX_FRAMES": "0", "AI_DEVICE": "tpu"}
        )

    assert str(caught.value) == (
        "settings: AI_ADMIN_KEY is required; "
        "AI_MOCK_MODE must be a flag: 1/0, true/false, yes/no or on/off (got 'maybe'); "
        "AI_PORT must be an integer 1..65535 (got '70000'); "
        "AI_DEVICE must be auto, cpu, cuda or cuda:N; "
        "AI_MAX_FRAMES must be an integer 1..16 (got '0')"
    )
    assert len(caught.value.problems) == 5


def test_a_blank_key_is_a_missing_key():
    with pytest.raises(SettingsError, match="^settings: AI_ADMIN_KEY is required$"):
        load_settings({"AI_ADMIN_KEY": "  "})


def serve(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AI_")}
    return subprocess.run(
        [sys.executable, "-m", "ai", "serve"],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
    )


def test_serve_with_a_bad_environment_exits_2_with_one_line():
    result = serve(AI_PORT="ninety", AI_MAX_HEADER_BYTES="12")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "settings: AI_ADMIN_KEY is required; AI_PORT must be an integer 1..65535 (got 'ninety'); "
        "AI_MAX_HEADER_BYTES must be an integer 1024..1048576 (got '12')"
    ]
    assert result.stdout == ""
