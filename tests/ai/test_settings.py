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

    message = str(caught.value)
    for name in (
        "AI_ADMIN_KEY is missing",
        "AI_MOCK_MODE",
        "AI_PORT",
        "AI_MAX_FRAMES",
        "AI_DEVICE",
    ):
        assert name in message
    assert len(caught.value.problems) == 5


def test_an_empty_key_is_refused():
    with pytest.raises(SettingsError, match="AI_ADMIN_KEY: must not be empty"):
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


def test_serve_with_a_bad_environment_exits_2_with_one_message():
    result = serve(AI_PORT="ninety")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "the AI service cannot start; fix these environment variables:",
        "  - AI_ADMIN_KEY is missing",
        "  - AI_PORT: must be a whole number, got 'ninety'",
    ]
