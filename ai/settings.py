"""The service's settings, read from the environment once at start-up.

Every variable is one `config(...)` line. Instead of stopping at the first bad variable (what
starlette's Config does), the loader collects every problem so the operator fixes the env file once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.config import Config, undefined
from starlette.datastructures import Secret

from contract import MAX_FRAME_PIXELS, MAX_FRAMES

MIB = 1024 * 1024


class SettingsError(Exception):
    """One or more environment variables are missing or invalid; the message names each of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "the AI service cannot start; fix these environment variables:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )


@dataclass(frozen=True)
class Settings:
    admin_key: Secret
    mock_mode: bool
    host: str
    port: int
    device: str
    max_frames: int
    max_frame_bytes: int
    max_frame_pixels: int
    max_body_bytes: int
    gallery: str
    embedder: str
    torch_threads: int
    tray_memory: int
    tray_memory_seconds: int
    tray_memory_bytes: int
    log_level: str


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read every setting; raise SettingsError naming all the variables that are wrong."""
    config = _CollectingConfig(environ=environ)
    settings = Settings(
        admin_key=config("AI_ADMIN_KEY", cast=_non_empty_secret),
        mock_mode=config("AI_MOCK_MODE", cast=_flag, default="0"),
        # 0.0.0.0: Central reaches the VM over the VPC; the firewall decides who may.
        host=config("AI_HOST", default="0.0.0.0"),  # noqa: S104
        port=config("AI_PORT", cast=_port, default=9000),
        device=config("AI_DEVICE", cast=_device, default="auto"),
        max_frames=config("AI_MAX_FRAMES", cast=_positive_int, default=MAX_FRAMES),
        max_frame_bytes=config("AI_MAX_FRAME_BYTES", cast=_positive_int, default=8 * MIB),
        max_frame_pixels=config(
            "AI_MAX_FRAME_PIXELS", cast=_positive_int, default=MAX_FRAME_PIXELS
        ),
        max_body_bytes=config("AI_MAX_BODY_BYTES", cast=_positive_int, default=48 * MIB),
        # The product gallery: a file, or gs://<models bucket>/… on the VM; loaded at start-up.
        gallery=config("AI_GALLERY", default="var/ai/gallery.pt"),
        # A TorchScript embedder (file or gs:// URL) instead of the built-in one; empty: built-in.
        embedder=config("AI_EMBEDDER", default=""),
        # CPU threads for torch (0: its default); threads thrash when other work shares the cores.
        torch_threads=config("AI_TORCH_THREADS", cast=_non_negative_int, default=0),
        tray_memory=config("AI_TRAY_MEMORY", cast=_positive_int, default=512),
        tray_memory_seconds=config("AI_TRAY_MEMORY_SECONDS", cast=_positive_int, default=6 * 3600),
        # What the kept frames may take (JPEG at the working width: about 70 KB a 640 px frame).
        tray_memory_bytes=config("AI_TRAY_MEMORY_BYTES", cast=_positive_int, default=256 * MIB),
        log_level=config("AI_LOG_LEVEL", cast=_log_level, default="info"),
    )
    if config.problems:
        raise SettingsError(config.problems)
    return settings


class _CollectingConfig(Config):
    """starlette's Config, but a missing or invalid variable is recorded instead of raised."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ=environ)
        self.problems: list[str] = []

    def __call__(
        self, key: str, cast: Callable[[Any], Any] | None = None, default: Any = undefined
    ) -> Any:
        try:
            return self.get(key, cast, default)
        except KeyError:
            self.problems.append(f"{key} is missing")
        except ValueError as error:
            self.problems.append(f"{key}: {_reason(error)}")
        return None


def _reason(error: ValueError) -> str:
    # starlette wraps our casts' messages as "Config 'X' has value 'v'. Not a valid cast."; ours
    # already say what is wrong, and the value may be a secret, so keep only our message.
    return str(error.__context__ or error)


def _non_empty_secret(value: str) -> Secret:
    if not value.strip():
        raise ValueError("must not be empty")
    return Secret(value)


def _flag(value: str) -> bool:
    flags = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if value.lower() not in flags:
        raise ValueError(f"must be 1 or 0, got {value!r}")
    return flags[value.lower()]


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"must be a whole number, got {value!r}") from None
    if number < 1:
        raise ValueError(f"must be at least 1, got {number}")
    return number


def _port(value: str) -> int:
    number = _positive_int(value)
    if number > 65535:
        raise ValueError(f"must be a TCP port (1-65535), got {number}")
    return number


def _device(value: str) -> str:
    if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise ValueError(f"must be auto, cpu, cuda or cuda:N, got {value!r}")


def _log_level(value: str) -> str:
    level = value.lower()
    if level not in ("critical", "error", "warning", "info", "debug"):
        raise ValueError(f"must be one of critical, error, warning, info, debug, got {value!r}")
    return level


def _non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number
