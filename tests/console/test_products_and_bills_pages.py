"""Staff manage a product's photos, capture a counter's empty tray and void a bill from the
console, in a real browser; what the page shows is checked against the API."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

from PIL import Image

from tests.console.conftest import Console
from tests.console.test_staff_console import _sign_in, _tray_jpeg
from tests.support.ai_standin import no_item_jpeg_b64, tiny_jpeg_b64

SCREENSHOTS = Path(os.environ.get("BAKESIGHT_SCREENSHOTS", "var/screenshots"))


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, format="JPEG")
    return out.getvalue()


def _photo_ids(console: Console, store: dict[str, Any], sku: str) -> list[str]:
    r = console.admin.get(f"/api/v1/stores/{store['id']}/products/{sku}/photos")
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["photos"]]


def _products_page(page: Any, console: Console, store: dict[str, Any]) -> None:
    _sign_in(page, console, store)
    page.wait_for_selector("#queue", state="visible")
    page.click("nav a[href='#products']")
    page.wait_for_selector("li.product[data-sku=SCONE]")


def test_a_products_photos_are_listed_deleted_and_added_from_the_page(
    page: Any, console: Console
) -> None:
    store = console.store_with_products()
    r = console.admin.post(
        f"/api/v1/stores/{store['id']}/products/SCONE/photos",
        json={"photos_b64": [tiny_jpeg_b64(1), tiny_jpeg_b64(2)]},
    )
    assert r.status_code == 201, r.text
    first, second = _photo_ids(console, store, "SCONE")
    _products_page(page, console, store)
    scone = page.locator("li.product[data-sku=SCONE]")

    scone.locator(f"[data-photo='{second}']").wait_for()
    assert scone.locator(".photo").count() == 2
    assert scone.locator(".photo-count").inner_text() == "photos 2/5"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "staff-products.png"))
    assert page.locator("li.product[data-sku=CROISSANT] .photo").count() == 0

    scone.locator(f"[data-photo='{first}'] button[aria-label=Delete]").click()
    scone.locator(f"[data-photo='{first}']").wait_for(state="detached")
    assert scone.locator(".photo").count() == 1
    assert scone.locator(".photo-count").inner_text() == "photos 1/5"
    assert _photo_ids(console, store, "SCONE") == [second]

    photo = _jpeg((200, 150, 90))
    scone.locator("input[type=file]").set_input_files(
        {"name": "scone.jpg", "mimeType": "image/jpeg", "buffer": photo}
    )
    page.wait_for_selector("#message.ok")
    page.wait_for_function(
        "() => document.querySelectorAll('li.product[data-sku=SCONE] .photo').length === 2"
    )
    ids = _photo_ids(console, store, "SCONE")
    assert len(ids) == 2 and ids[0] == second
    assert scone.locator(f"[data-photo='{ids[1]}']").count() == 1
    sent = [r for r in console.ai.requests if r["path"] == "/v1/products/SCONE/photos"]
    assert base64.b64decode(sent[-1]["body"]["photos_b64"][0]) == photo
    assert sent[-1]["body"]["store_id"] == str(store["id"])


def test_a_counters_background_is_captured_from_the_page(page: Any, console: Console) -> None:
    store = console.store_with_products()
    _products_page(page, console, store)
    page.fill("#counter", "counter-7")

    page.locator("#background-input").set_input_files(
        {"name": "empty.jpg", "mimeType": "image/jpeg", "buffer": _jpeg((230, 225, 215))}
    )

    page.wait_for_selector("#message.ok")
    assert "Saved" in page.locator("#message").inner_text()
    assert console.ai.backgrounds == {f"s{store['id']}-counter-7": 1}


def test_a_refused_background_shows_the_ais_reason(page: Any, console: Console) -> None:
    store = console.store_with_products()
    _products_page(page, console, store)

    page.locator("#background-input").set_input_files(
        {
            "name": "not-empty.jpg",
            "mimeType": "image/jpeg",
            "buffer": base64.b64decode(no_item_jpeg_b64()),
        }
    )

    message = page.locator("#message:not(.ok)")
    message.wait_for()
    assert "frame 0: items are on the tray" in message.inner_text()
    assert console.ai.backgrounds == {}


def _billed(console: Console, store: dict[str, Any], status: str, counter: str) -> str:
    session = console.admin.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": counter}
    ).json()["uuid"]
    r = console.admin.post(
        f"/api/v1/tray-sessions/{session}/infer", json={"frames_b64": [_tray_jpeg()]}
    )
    assert r.status_code == 201 and r.json()["payable"], r.text
    r = console.admin.post(
        f"/api/v1/tray-sessions/{session}/checkout", json={"payment_status": status}
    )
    assert r.status_code == 201, r.text
    return str(session)


def test_the_bills_page_shows_the_stores_bills_and_staff_void_one(
    page: Any, console: Console
) -> None:
    store = console.store_with_products()
    paid = _billed(console, store, "PAID", "counter-1")
    pending = _billed(console, store, "PENDING", "counter-2")
    failed = _billed(console, store, "FAILED", "counter-1")
    bill = console.admin.get(f"/api/v1/tray-sessions/{failed}").json()["bill"]
    _sign_in(page, console, store)
    page.wait_for_selector("#queue", state="visible")

    page.click("nav a[href='#bills']")
    card = page.locator(f"li.bill[data-session='{failed}']")
    card.wait_for()

    sessions = page.locator("li.bill").evaluate_all("cards => cards.map(c => c.dataset.session)")
    assert sessions == [failed, pending, paid]  # newest first
    assert card.locator(".amount").inner_text() == f"₩{bill['total_krw']:,}"
    assert card.locator(".status").inner_text() == "Payment failed"
    assert card.locator(".retry").is_visible() and card.locator(".retry").is_disabled()
    assert "at the counter" in page.locator("#bills-note").inner_text()
    assert not page.locator(f"li.bill[data-session='{paid}'] .retry").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "staff-bills.png"))

    card.locator("button.void").click()
    card.locator("input[name=reason]").fill("customer left without paying")
    page.screenshot(path=str(SCREENSHOTS / "staff-bills-void.png"))
    card.locator("button[type=submit]").click()

    page.wait_for_selector("#message.ok")
    page.locator(f"li.bill[data-session='{failed}'][data-status=VOIDED]").wait_for()
    voided = page.locator(f"li.bill[data-session='{failed}']")
    assert voided.locator(".status").inner_text() == "Voided"
    assert "customer left without paying" in voided.locator(".history").inner_text()
    assert not voided.locator("button.void").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "staff-bills-voided.png"))
    after = console.admin.get(f"/api/v1/tray-sessions/{failed}").json()["bill"]
    assert after["payment_status"] == "VOIDED"
    assert after["history"][-1]["reason"] == "customer left without paying"
    assert after["history"][-1]["actor"] == "kim (staff)"

    page.click("#bill-filters button[data-status=PENDING]")
    page.wait_for_function("() => document.querySelectorAll('li.bill').length === 1")
    assert page.locator("li.bill").get_attribute("data-session") == pending


def test_the_bills_page_speaks_korean(browser: Any, console: Console) -> None:
    store = console.store_with_products()
    _billed(console, store, "FAILED", "counter-1")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
    page = context.new_page()
    _sign_in(page, console, store)
    page.wait_for_selector("#queue", state="visible")
    page.click("nav a[href='#bills']")
    page.locator("li.bill").wait_for()
    assert page.locator("nav a[href='#bills']").inner_text() == "계산서"
    assert page.locator("li.bill .status").inner_text() == "결제 실패"
    assert page.locator("li.bill button.void").inner_text() == "취소"
    page.screenshot(path=str(SCREENSHOTS / "staff-bills-ko.png"))
    context.close()
