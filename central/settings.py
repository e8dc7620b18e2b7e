"""Central's settings: read once from the environment, every problem reported at once."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.config import Config
from starlette.datastructures import Secret

from central.ai_client import MAX_CONNECTIONS as AI_MAX_CONNECTIONS
from central.archive import TrayArchive, parse_archive
from central.dburl import EMBEDDED_DEFAULT, DatabaseTarget, parse_database_url
from contract import MAX_FRAMES


class SettingsError(Exception):
    """Raised with one line that names every missing or invalid variable."""


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
    max_body_bytes: int
    max_frames: int
    max_frame_bytes: int
    gcp_project: str
    tray_archive: TrayArchive
    staff_key: Secret | None = None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    config = _CollectingConfig(Config(environ=os.environ if environ is None else environ))
    settings = Settings(
        admin_key=config("ADMIN_KEY", cast=_key),
        database=config("DATABASE_URL", cast=parse_database_url, default=EMBEDDED_DEFAULT),
        ai_base_url=config("AI_BASE_URL", cast=_http_url, default="http://127.0.0.1:9000"),
        ai_admin_key=config("AI_ADMIN_KEY", cast=_key),
        ai_timeout_s=config("AI_TIMEOUT_SECONDS", cast=_positive(float), default="10"),
        ai_connect_timeout_s=config(
            "AI_CONNECT_TIMEOUT_SECONDS", cast=_positive(float), default="2"
        ),
        ai_max_connections=config(
            "AI_MAX_CONNECTIONS", cast=_positive(int), default=str(AI_MAX_CONNECTIONS)
        ),
        create_tables=config("CREATE_TABLES", cast=_flag, default="0"),
        port=config("PORT", cast=_port, default="8080"),
        # 4 frames of MAX_FRAME_BYTES grow by 4/3 in base64: leave room, so the frame limit speaks.
        max_body_bytes=config("MAX_BODY_BYTES", cast=_positive(int), default=str(24 * 1024 * 1024)),
        max_frames=config("MAX_FRAMES", cast=_positive(int), default=str(MAX_FRAMES)),
        max_frame_bytes=config(
            "MAX_FRAME_BYTES", cast=_positive(int), default=str(3 * 1024 * 1024)
        ),
        gcp_project=config("GOOGLE_CLOUD_PROJECT", cast=str, default=""),
        tray_archive=config("TRAY_ARCHIVE", cast=parse_archive, default="var/trays"),
        staff_key=config("STAFF_KEY", cast=_optional_key, default=""),
    )
    if settings.staff_key is not None and str(settings.staff_key) == str(settings.admin_key):
        config.problem("STAFF_KEY is invalid (must differ from ADMIN_KEY)")
    config.raise_if_any()
    return settings


class _CollectingConfig:
    """starlette's Config, but it gathers every problem instead of stopping at the first.

    Messages never echo values: DATABASE_URL carries a password and the keys are secrets.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._problems: list[str] = []

    def __call__(self, key: str, cast: Callable[[str], Any], default: str | None = None) -> Any:
        try:
            raw = self._config(key) if default is None else self._config(key, default=default)
        except KeyError:
            self._problems.append(f"{key} is missing")
            return None
        try:
            return cast(str(raw))
        except ValueError as exc:
            self._problems.append(f"{key} is invalid ({exc})")
            return None

    def problem(self, message: str) -> None:
        self._problems.append(message)

    def raise_if_any(self) -> None:
        if self._problems:
            raise SettingsError("; ".join(self._problems))


def _key(raw: str) -> Secret:
    if len(raw.strip()) < 8:
        raise ValueError("must be at least 8 characters")
    return Secret(raw.strip())


def _optional_key(raw: str) -> Secret | None:
    return _key(raw) if raw.strip() else None


def _http_url(raw: str) -> str:
    raw = raw.strip().rstrip("/")
    if not raw.startswith(("http://", "https://")) or len(raw.split("://", 1)[1]) == 0:
        raise ValueError("must be an http:// or https:// URL")
    return raw


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be 1 or 0")


def _port(raw: str) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError("must be a TCP port, 1-65535")
    return port


def _positive(kind: Callable[[str], float | int]) -> Callable[[str], Any]:
    def cast(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"must be a {kind.__name__}") from None
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    return cast
