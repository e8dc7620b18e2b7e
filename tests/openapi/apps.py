"""The two services as the OpenAPI tests drive them: Central on SQLite with the AI stand-in,
and the AI in mock mode, each with the admin key the fuzzer sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette

import ai.app
import central.app
from ai.settings import load_settings as ai_settings
from central.settings import load_settings as central_settings

CENTRAL_KEY = "central-admin-key-for-openapi"
STAFF_KEY = "central-staff-key-for-openapi"
AI_KEY = "ai-admin-key-for-openapi"


def central_app(folder: Path, ai_url: str = "http://127.0.0.1:9") -> Starlette:
    """Central with its own SQLite file and tray archive under `folder`."""
    settings = central_settings(
        {
            "ADMIN_KEY": CENTRAL_KEY,
            "STAFF_KEY": STAFF_KEY,
            "AI_ADMIN_KEY": "ai-admin-key-for-tests",
            "DATABASE_URL": f"sqlite:///{folder / 'central.db'}",
            "CREATE_TABLES": "1",
            "AI_BASE_URL": ai_url,
            "AI_TIMEOUT_SECONDS": "1.5",
            "AI_CONNECT_TIMEOUT_SECONDS": "0.5",
            "TRAY_ARCHIVE": str(folder / "trays"),
        }
    )
    return central.app.create_app(settings)


def ai_app(**env: str) -> Starlette:
    return ai.app.create_app(ai_settings({"AI_ADMIN_KEY": AI_KEY, "AI_MOCK_MODE": "1", **env}))


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path template) of every operation a document declares."""
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    }
