"""The environment reader both services use: typed values, every problem named once, one line."""

from __future__ import annotations

import pytest

from servicekit.settings import Env, SettingsError, read_http_limits


def problems(**environ: str) -> list[str]:
    env = Env(environ)
    env.integer("FRAMES", 4, low=1, high=16)
    env.number("TIMEOUT_SECONDS", 10.0, above=0)
    env.flag("MOCK", False)
    env.secret("KEY", min_length=8)
    env.url("BASE_URL", "http://127.0.0.1:9000")
    env.choice("LEVEL", "info", ("debug", "info"))
    return env.problems


def test_defaults_fill_what_is_unset_or_blank() -> None:
    env = Env({"KEY": "  a-long-key \t", "FRAMES": "", "MOCK": "   "})
    assert env.integer("FRAMES", 4, low=1) == 4
    assert env.flag("MOCK", True) is True
    assert str(env.secret("KEY", min_length=8)) == "a-long-key"
    assert env.url("BASE_URL", "http://ai:9000/") == "http://ai:9000"
    assert env.problems == []


def test_every_problem_is_named_in_one_line_in_the_order_read() -> None:
    env = Env({"FRAMES": "x", "TIMEOUT_SECONDS": "nan", "MOCK": "2", "LEVEL": "LOUD"})
    env.integer("FRAMES", 4, low=1, high=16)
    env.number("TIMEOUT_SECONDS", 10.0, above=0)
    env.flag("MOCK", False)
    env.secret("KEY")
    env.choice("LEVEL", "info", ("debug", "info"))
    with pytest.raises(SettingsError) as caught:
        env.check()
    assert str(caught.value) == (
        "settings: FRAMES must be an integer 1..16 (got 'x'); "
        "TIMEOUT_SECONDS must be a number > 0 (got 'nan'); "
        "MOCK must be a flag: 1/0, true/false, yes/no or on/off (got '2'); "
        "KEY is required; "
        "LEVEL must be one of debug, info (got 'LOUD')"
    )


def test_a_value_with_a_newline_stays_on_the_one_line_and_long_ones_are_cut() -> None:
    found = problems(FRAMES="4\nsettings: all good", MOCK="y" * 500, KEY="long-enough")
    assert found[0] == "FRAMES must be an integer 1..16 (got '4\\nsettings: all good')"
    assert len(found[1]) < 120 and found[1].endswith("...')")
    assert all("\n" not in problem for problem in found)


def test_secrets_and_urls_are_never_quoted_back() -> None:
    found = problems(KEY="hunter2", BASE_URL="ftp://user:hunter3@host")
    assert found == [
        "KEY must be at least 8 characters",
        "BASE_URL must be an http:// or https:// URL",
    ]


def test_a_parsers_own_words_are_kept_and_the_value_is_not() -> None:
    def parse(value: str) -> str:
        raise ValueError("unsupported scheme; use mysql://…")

    env = Env({"DATABASE_URL": "postgres://u:hunter2@h/db"})
    env.parsed("DATABASE_URL", "sqlite://", parse)
    assert env.problems == ["DATABASE_URL is invalid: unsupported scheme; use mysql://…"]


def test_http_limits_carry_the_service_prefix_and_defaults() -> None:
    env = Env({"AI_MAX_CONCURRENT_UPLOADS": "3", "AI_MAX_HEADER_BYTES": "512"})
    limits = read_http_limits(env, "AI_", max_body_bytes=1000, max_concurrent_uploads=8)
    assert (limits.max_body_bytes, limits.max_concurrent_uploads) == (1000, 3)
    assert (limits.upload_read_timeout_s, limits.upload_deadline_s) == (10.0, 60.0)
    assert env.problems == ["AI_MAX_HEADER_BYTES must be an integer 1024..1048576 (got '512')"]
