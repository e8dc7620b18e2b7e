"""The staff console in a real headless browser: Debian's chromium driven by Playwright.

Central runs in-process under uvicorn on loopback (embedded SQLite, the AI stand-in); the
browser talks to it over HTTP exactly as a tablet at the counter would.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from central.app import create_app
from central.settings import load_settings
from tests.support.ai_standin import AiStandIn

CHROMIUM = "/usr/bin/chromium"
ADMIN_KEY = "console-admin-key"
STAFF_KEY = "console-staff-key"


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open,
# which later tests that call asyncio.run() must not find.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("chromium is missing: apt-get install -y chromium", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install '.[test]'", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox"],  # CI runs as root, where chromium's sandbox refuses to start
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    context.add_init_script("localStorage.setItem('bakesight.lang', 'en')")
    yield context.new_page()
    context.close()


class Console:
    """Central serving the console, and an admin client to set the stage."""

    def __init__(self, url: str, ai: AiStandIn) -> None:
        self.url = url
        self.ai = ai
        self.admin = httpx.Client(base_url=url, headers={"X-ADMIN-KEY": ADMIN_KEY}, timeout=10)

    def store_with_products(self) -> dict[str, Any]:
        store = self.admin.post(
            "/api/v1/stores", json={"code": f"C-{uuid.uuid4().hex[:8]}", "name": "빵집"}
        ).json()
        for sku, name, price in [
            ("CROISSANT", "크루아상", 3800),
            ("SCONE", "스콘", 3300),
            ("BAGEL-PLAIN", "플레인 베이글", 3200),
        ]:
            r = self.admin.post(
                f"/api/v1/stores/{store['id']}/products",
                json={"sku": sku, "name": name, "unit_price_krw": price},
            )
            assert r.status_code == 201, r.text
        return store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def console(tmp_path: Path, ai: AiStandIn) -> Iterator[Console]:
    settings = load_settings(
        {
            "ADMIN_KEY": ADMIN_KEY,
            "STAFF_KEY": STAFF_KEY,
            "AI_ADMIN_KEY": ai.admin_key,
            "AI_BASE_URL": ai.url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'central.db'}",
            "CREATE_TABLES": "1",
            "TRAY_ARCHIVE": str(tmp_path / "trays"),
        }
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "Central did not start"
        time.sleep(0.05)
    console = Console(f"http://127.0.0.1:{port}", ai)
    yield console
    console.admin.close()
    server.should_exit = True
    thread.join(timeout=10)
