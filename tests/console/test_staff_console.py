"""Staff work a review, and the product photos, from the console in a real browser."""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from tests.console.conftest import STAFF_KEY, Console
from tests.support.ai_standin import answer

SCREENSHOTS = Path(os.environ.get("BAKESIGHT_SCREENSHOTS", "var/screenshots"))


def _tray_jpeg() -> str:
    """A tray with two bakes on it, where the stand-in's boxes will be."""
    image = Image.new("RGB", (640, 480), (222, 205, 180))
    draw = ImageDraw.Draw(image)
    draw.ellipse((80, 160, 220, 320), fill=(176, 112, 52))
    draw.ellipse((380, 170, 560, 310), fill=(205, 140, 60))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return base64.b64encode(out.getvalue()).decode()


def _open_review(console: Console, store: dict[str, Any]) -> dict[str, Any]:
    """A tray the AI was unsure about: a sure scone and an unsure item that may be a croissant."""
    unsure = answer("REVIEW", [("SCONE", 1, 0.97), ("BAGEL-PLAIN", 1, 0.42)])
    unsure["items"][0]["boxes"] = [{"frame": 0, "box": [40, 120, 260, 360]}]
    unsure["items"][1]["boxes"] = [{"frame": 0, "box": [340, 120, 600, 360]}]
    unsure["items"][1]["candidates"] = [
        {"sku": "BAGEL-PLAIN", "score": 0.42},
        {"sku": "CROISSANT", "score": 0.40},
    ]
    console.ai.answer = unsure
    session = console.admin.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "counter-1"}
    ).json()
    r = console.admin.post(
        f"/api/v1/tray-sessions/{session['uuid']}/infer", json={"frames_b64": [_tray_jpeg()]}
    )
    assert r.status_code == 201, r.text
    return r.json()


def _sign_in(page: Any, console: Console, store: dict[str, Any], key: str = STAFF_KEY) -> None:
    page.goto(f"{console.url}/staff")
    page.fill("input[name=key]", key)
    page.fill("input[name=reviewer]", "kim")
    page.fill("input[name=store]", str(store["id"]))
    page.click("#signin-form button[type=submit]")


def test_staff_resolve_an_unsure_tray_and_it_becomes_payable(page: Any, console: Console) -> None:
    store = console.store_with_products()
    tray = _open_review(console, store)
    review_id = tray["review"]["id"]
    _sign_in(page, console, store)

    card = page.locator(f"[data-review='{review_id}']")
    card.wait_for()
    assert "AI unsure" in card.inner_text()
    card.click()

    image = page.locator("img.annotated")
    page.wait_for_function(
        "() => { const i = document.querySelector('img.annotated'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [640, 480]
    # the unsure item's box is drawn in yellow, the sure one's in green
    left_edges = image.evaluate(
        """i => { const c = document.createElement('canvas'); c.width = i.naturalWidth;
        c.height = i.naturalHeight; const g = c.getContext('2d'); g.drawImage(i, 0, 0);
        return [[41, 250], [341, 250], [50, 130]].map(([x, y]) =>
            Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3))); }"""
    )
    green, yellow, inside = left_edges
    assert green[1] > 150 and green[0] < 100  # (34, 197, 94)
    assert yellow[0] > 200 and yellow[1] > 170 and yellow[2] < 100  # (250, 204, 21)
    assert abs(inside[0] - 222) < 30  # inside a box the tray is untouched

    unsure = page.locator("li.line.unsure")
    assert unsure.count() == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "staff-review.png"))

    unsure.locator("[data-candidate=CROISSANT]").click()
    page.locator("li.line[data-sku=SCONE] button[aria-label=plus]").click()  # two scones
    assert page.locator("#total").inner_text() == "₩10,400"
    page.click("#resolve")
    page.wait_for_selector("#message.ok")
    page.wait_for_selector("#queue-empty", state="visible")

    session = console.admin.get(f"/api/v1/tray-sessions/{tray['uuid']}").json()
    assert session["payable"] is True
    final = sorted(session["reviews"][0]["final_items"], key=lambda item: item["sku"])
    assert final == [{"sku": "CROISSANT", "count": 1}, {"sku": "SCONE", "count": 2}]
    assert session["reviews"][0]["resolved_by"] == "kim"
    paid = console.admin.post(
        f"/api/v1/tray-sessions/{tray['uuid']}/checkout", json={"payment_status": "PAID"}
    )
    assert paid.status_code == 201 and paid.json()["bill"]["total_krw"] == 10_400


def test_manual_mode_when_the_ai_was_down(page: Any, console: Console) -> None:
    store = console.store_with_products()
    console.ai.behaviour = "error500"
    session = console.admin.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "counter-2"}
    ).json()
    tray = console.admin.post(
        f"/api/v1/tray-sessions/{session['uuid']}/infer", json={"frames_b64": [_tray_jpeg()]}
    ).json()
    _sign_in(page, console, store)
    page.click(f"[data-review='{tray['review']['id']}']")
    page.wait_for_selector("#manual", state="visible")
    page.wait_for_function("() => document.querySelector('img.annotated')?.naturalWidth > 0")
    page.fill("#product-search", "스콘")  # Korean names are searchable
    page.click("[data-add=SCONE]")
    page.click("#resolve")
    page.wait_for_selector("#message.ok")
    assert console.admin.get(f"/api/v1/tray-sessions/{session['uuid']}").json()["payable"]


def test_a_photo_is_registered_from_the_products_page(page: Any, console: Console) -> None:
    store = console.store_with_products()
    _sign_in(page, console, store)
    page.wait_for_selector("#queue", state="visible")
    page.click("nav a[href='#products']")
    product = page.locator("li.product[data-sku=SCONE]")
    product.wait_for()
    image = Image.new("RGB", (64, 64), (200, 150, 90))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    product.locator("input[type=file]").set_input_files(
        {"name": "scone.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}
    )
    page.wait_for_selector("#message.ok")
    sent = [
        r
        for r in console.ai.requests
        if r["method"] == "POST" and r["path"] == "/v1/products/SCONE/photos"
    ]
    assert len(sent) == 1
    assert base64.b64decode(sent[0]["body"]["photos_b64"][0]) == out.getvalue()


def test_a_wrong_staff_key_is_refused(page: Any, console: Console) -> None:
    store = console.store_with_products()
    _sign_in(page, console, store, key="not-the-staff-key")
    message = page.locator("#message")
    message.wait_for()
    assert "not valid" in message.inner_text()
    assert page.locator("#signin").is_visible() and not page.locator("#queue").is_visible()


def test_the_staff_key_cannot_change_a_price(page: Any, console: Console) -> None:
    store = console.store_with_products()
    _sign_in(page, console, store)
    page.wait_for_selector("#queue", state="visible")
    status = page.evaluate(
        """async ([store, key]) => (await fetch(`/api/v1/stores/${store}/products/SCONE`, {
            method: 'PATCH', headers: {'X-STAFF-KEY': key, 'Content-Type': 'application/json'},
            body: JSON.stringify({unit_price_krw: 1})})).status""",
        [store["id"], STAFF_KEY],
    )
    assert status == 403
    price = console.admin.get(f"/api/v1/stores/{store['id']}/products/SCONE").json()
    assert price["unit_price_krw"] == 3300


def test_the_console_speaks_korean_first(browser: Any, console: Console) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{console.url}/staff")
    assert page.locator("#signin-form button[type=submit]").inner_text() == "로그인"
    page.click("#lang")
    assert page.locator("#signin-form button[type=submit]").inner_text() == "Sign in"
    assert re.search(r"\bStaff key\b", page.locator("#signin").inner_text())
    context.close()
