"""Central's settings: read once from the environment, every problem reported at once.

The reading rules (flag spellings, stripped secrets, one-line errors) are servicekit's, shared
with the AI service; this module says which variables Central has and their defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import Secret

from central.ai_client import MAX_CONNECTIONS as AI_MAX_CONNECTIONS
from central.archive import TrayArchive, parse_archive
from central.dburl import EMBEDDED_DEFAULT, DatabaseTarget, parse_database_url
from contract import MAX_FRAMES
from servicekit.settings import Env, HttpLimits, SettingsError, read_http_limits

__all__ = ["Settings", "SettingsError", "load_settings"]

MIB = 1024 * 1024
# Keys shorter than this are refused: a guessable key on a public Cloud Run URL is no key.
MIN_KEY_LENGTH = 8


@dataclass(frozen=True)
class Settings:
    admin_key: Secret
    database: DatabaseTarget
    ai_base_url: str
    ai_admin_key: Secret
    ai_timeout_s: float
    ai_connect_timeout_s: float
    ai_max_connections: int
    create_tables: bool
    port: int
    max_frames: int
    max_frame_bytes: int
    gcp_project: str
    tray_archive: TrayArchive
    http_limits: HttpLimits
    staff_key: Secret | None = None

    @property
    def max_body_bytes(self) -> int:
        return self.http_limits.max_body_bytes


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting; raise SettingsError naming every problem in one line.

    Messages never echo a key, a URL or DATABASE_URL (it carries a password).
    """
    env = Env(os.environ if environ is None else environ)
    settings = Settings(
        admin_key=env.secret("ADMIN_KEY", min_length=MIN_KEY_LENGTH),
        database=env.parsed("DATABASE_URL", EMBEDDED_DEFAULT, parse_database_url),
        ai_base_url=env.url("AI_BASE_URL", "http://127.0.0.1:9000"),
        ai_admin_key=env.secret("AI_ADMIN_KEY", min_length=MIN_KEY_LENGTH),
        ai_timeout_s=env.number("AI_TIMEOUT_SECONDS", 10.0, above=0),
        ai_connect_timeout_s=env.number("AI_CONNECT_TIMEOUT_SECONDS", 2.0, above=0),
        ai_max_connections=env.integer("AI_MAX_CONNECTIONS", AI_MAX_CONNECTIONS, low=1),
        create_tables=env.flag("CREATE_TABLES", False),
        port=env.integer("PORT", 8080, low=1, high=65535),
        max_frames=env.integer("MAX_FRAMES", MAX_FRAMES, low=1),
        max_frame_bytes=env.integer("MAX_FRAME_BYTES", 3 * MIB, low=1),
        gcp_project=env.text("GOOGLE_CLOUD_PROJECT", ""),
        tray_archive=env.parsed("TRAY_ARCHIVE", "var/trays", parse_archive),
        # 4 frames of MAX_FRAME_BYTES grow by 4/3 in base64: leave room, so the frame limit speaks.
        # Cloud Run sends an instance at most 80 requests at once by default.
        http_limits=read_http_limits(env, "", max_body_bytes=24 * MIB, max_concurrent_uploads=16),
        staff_key=env.optional_secret("STAFF_KEY", min_length=MIN_KEY_LENGTH),
    )
    if settings.staff_key is not None and str(settings.staff_key) == str(settings.admin_key):
        env.problem("STAFF_KEY must differ from ADMIN_KEY")
    env.check()
    return settings
