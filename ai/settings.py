"""The service's settings, read from the environment once at start-up.

The reading rules (flag spellings, stripped secrets, every problem in one line) are servicekit's,
shared with Central; this module says which variables the AI service has and their defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import Secret

from contract import MAX_FRAME_PIXELS, MAX_FRAMES
from servicekit.settings import Env, HttpLimits, SettingsError, read_http_limits

__all__ = ["Settings", "SettingsError", "load_settings"]

MIB = 1024 * 1024
# A request's frames are views of one tray; more than this is a client bug, not a bigger tray.
MOST_FRAMES = 16
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


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
    gallery: str
    embedder: str
    torch_threads: int
    tray_memory: int
    tray_memory_seconds: int
    tray_memory_bytes: int
    log_level: str
    http_limits: HttpLimits
    gcp_project: str = ""

    @property
    def max_body_bytes(self) -> int:
        return self.http_limits.max_body_bytes


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read every setting; raise SettingsError naming all the variables that are wrong."""
    env = Env(environ)
    settings = Settings(
        admin_key=env.secret("AI_ADMIN_KEY"),
        mock_mode=env.flag("AI_MOCK_MODE", False),
        # 0.0.0.0: Central reaches the VM over the VPC; the firewall decides who may.
        host=env.text("AI_HOST", "0.0.0.0"),  # noqa: S104
        port=env.integer("AI_PORT", 9000, low=1, high=65535),
        device=env.parsed("AI_DEVICE", "auto", _device),
        max_frames=env.integer("AI_MAX_FRAMES", MAX_FRAMES, low=1, high=MOST_FRAMES),
        max_frame_bytes=env.integer("AI_MAX_FRAME_BYTES", 8 * MIB, low=1),
        max_frame_pixels=env.integer("AI_MAX_FRAME_PIXELS", MAX_FRAME_PIXELS, low=1),
        # The product gallery: a file, or gs://<models bucket>/… on the VM; loaded at start-up.
        gallery=env.path("AI_GALLERY", "var/ai/gallery.pt"),
        # A TorchScript embedder (file or gs:// URL) instead of the built-in one; empty: built-in.
        embedder=env.path("AI_EMBEDDER", ""),
        # CPU threads for torch (0: its default); threads thrash when other work shares the cores.
        torch_threads=env.integer("AI_TORCH_THREADS", 0, low=0),
        tray_memory=env.integer("AI_TRAY_MEMORY", 512, low=1),
        tray_memory_seconds=env.integer("AI_TRAY_MEMORY_SECONDS", 6 * 3600, low=1),
        # What the kept frames may take (JPEG at the working width: about 70 KB a 640 px frame).
        tray_memory_bytes=env.integer("AI_TRAY_MEMORY_BYTES", 256 * MIB, low=1),
        log_level=env.choice("AI_LOG_LEVEL", "info", LOG_LEVELS),
        # Central sends a few requests at once (one inference runs at a time anyway).
        http_limits=read_http_limits(env, "AI_", max_body_bytes=48 * MIB, max_concurrent_uploads=8),
        # Names the project in the log's trace field when a request carries a trace header.
        gcp_project=env.text("AI_GOOGLE_CLOUD_PROJECT", ""),
    )
    env.check()
    return settings


def _device(value: str) -> str:
    if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise ValueError("must be auto, cpu, cuda or cuda:N")
