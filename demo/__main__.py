"""`python -m demo`: the whole checkout flow on one machine, as a counter and the staff see it.

Starts the AI service (the real pipeline on the CPU; `--mock` for the mock) and Central (embedded
SQLite) as real processes on loopback, seeds the demo store from fixtures/catalog.json, registers
each product's reference photos through Central (and seeds a branch store's own gallery from
them), sends generated trays through Central (the runbook's §11 calls), prints each decision,
bill and review, resolves one review (which teaches the AI) and checks out, shows that a tray
scanned while the AI is down waits for staff, then stops both.
With `--keep` both stay up after the flow (the AI restarted), that tray's review still open, and
the staff console's address and key are printed, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from demo.counter import CentralError, Counter
from demo.services import Service, start_ai, start_central
from demo.trays import REFERENCE_PHOTOS, TRAYS_DIR, bakery_trays, load_trays, reference_photos

Tray = tuple[str, list[str], dict[str, int] | None]  # name, base64 frames, true counts if known
CATALOG = Path(__file__).resolve().parent.parent / "fixtures" / "catalog.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mock", action="store_true", help="the mock AI (AI_MOCK_MODE=1) and its marked trays"
    )
    parser.add_argument(
        "--trays", type=Path, default=TRAYS_DIR, help="with --mock: folder of tray folders"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave both services running with a review open for the staff console (Ctrl-C)",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bakesight-demo-"))
    admin_key, ai_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    staff_key = secrets.token_urlsafe(12)
    services: list[Service] = []
    try:
        catalog = json.loads(CATALOG.read_text(encoding="utf-8"))
        skus = [product["sku"] for product in catalog["products"]]
        trays: list[Tray]
        if args.mock:
            trays = [(name, frames, None) for name, frames in load_trays(args.trays)]
        else:
            trays = list(bakery_trays(skus))
        ai = start_ai(ai_key, workdir, mock=args.mock)
        services.append(ai)
        central = start_central(
            admin_key,
            ai_key,
            ai.url,
            f"sqlite:///{workdir / 'central.db'}",
            workdir,
            staff_key=staff_key,
        )
        services.append(central)
        ai_ready = ai.wait_ready(ai_key, timeout_s=300)
        central.wait_ready(admin_key)
        print(
            f"AI service  {ai.url}  model {ai_ready.get('model_version')}"
            f" on {ai_ready.get('device')}"
        )
        print(f"Central     {central.url}  database {workdir / 'central.db'}")
        counter = Counter(central.url, admin_key)
        store = counter.seed(CATALOG)
        print(f"store       {store['code']} ({store['name']}), {len(skus)} products")
        if not args.mock:
            for sku in skus:  # through Central, as staff register a product: no retraining
                counter.register_photos(store["id"], sku, reference_photos(sku))
            print(f"registered  {REFERENCE_PHOTOS} reference photos of each product")
            show_a_branch(counter, store, trays[0])
        print()
        code = run_counter(counter, store, trays, ai, ai_key)
        if code != 0 or not args.keep:
            return code
        # The AI comes back on its address (and its gallery file); the AI-down tray stays open.
        services.remove(ai)
        ai.stop()
        ai = start_ai(ai_key, workdir, port=int(ai.url.rsplit(":", 1)[1]), mock=args.mock)
        services.append(ai)
        ai.wait_ready(ai_key, timeout_s=300)
        keep_running(central.url, staff_key, store, len(counter.open_reviews(store["id"])))
        return 0
    except (CentralError, RuntimeError, OSError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        for service in services:
            print(f"--- last lines of {service.name}'s log:\n{service.tail()}", file=sys.stderr)
        return 1
    finally:
        for service in reversed(services):
            service.stop()
        print(f"services stopped; logs in {workdir}")


def show_a_branch(counter: Counter, store: dict[str, Any], tray: Tray) -> None:
    """A second store has its own gallery at the AI: it starts from the first store's photos."""
    branch = counter.seed(CATALOG, code=f"{store['code']}-B", name=f"{store['name']} (branch)")
    copied = counter.seed_gallery(branch["id"], store["id"])["copied"]
    print(
        f"store       {branch['code']}: its own gallery, seeded from {store['code']}"
        f" ({sum(copied.values())} photos of {len(copied)} products)"
    )
    run = counter.infer(counter.open_session(branch["id"]), tray[1])["run"]
    print(f"    tray {tray[0]} at {branch['code']} → {run['decision']} ({run['reason']})")


def run_counter(
    counter: Counter, store: dict[str, Any], trays: list[Tray], ai: Service, ai_key: str
) -> int:
    reviewed: list[tuple[str, dict[str, int] | None]] = []
    for name, frames, truth in trays:
        session = counter.open_session(store["id"])
        result = counter.infer(session, frames)
        run = result["run"]
        print(
            f"tray {name}: {len(frames)} frame(s) → {run['decision']} ({run['reason']}), "
            f"AI {run['ai_latency_ms']} ms"
        )
        if truth is not None:
            print("    on the tray:  " + ", ".join(f"{sku} ×{n}" for sku, n in truth.items()))
        for item in run["items"]:
            print(
                f"    {item['sku'] or '(no match)':<20} ×{item['count']}"
                f"  confidence {item['confidence']:.2f}"
            )
        if result["payable"]:
            print_bill(counter.checkout(session, reference=f"card-{session[:8]}"))
        else:
            print(
                f"    → staff review #{result['review']['id']} ({result['review']['reason']});"
                " not payable yet"
            )
            reviewed.append((session, truth))
        print()

    if reviewed:
        session, truth = reviewed[0]
        shown = counter.session(session)
        review, run = shown["reviews"][-1], shown["runs"][-1]
        if truth is not None:  # staff count what is really on the tray
            items = [{"sku": sku, "count": n} for sku, n in truth.items()]
        else:  # the mock's tray: staff confirm what the AI recognized
            items = [{"sku": i["sku"], "count": i["count"]} for i in run["items"] if i["sku"]]
        model_before = ai.wait_ready(ai_key)["model_version"]
        resolved = counter.resolve(
            review["id"], reviewer="staff-kim", items=items or [{"sku": "CROISSANT", "count": 1}]
        )
        print(
            f"staff-kim resolved review #{review['id']}: "
            + ", ".join(f"{i['sku']} ×{i['count']}" for i in resolved["final_items"])
        )
        print_bill(counter.checkout(session, reference=f"card-{session[:8]}"))
        if truth is not None:  # the real pipeline; the mock learns nothing
            # Central teaches the AI in the background; wait for it before the AI stops below.
            model_after = _changed_model(ai, ai_key, model_before)
            if model_after is not None:
                print(f"    the AI learned from it: model {model_before} → {model_after}")
            else:
                # staff send counts, not boxes: the AI assigns crops only in a frame whose
                # items it counted as staff did, and learns nothing rather than guess; the demo
                # sees only the version, so it names the rule and where the outcome is logged
                print(
                    f"    the AI's model stayed {model_before}: it learns from a review only in"
                    " a frame whose items it counted as staff did (Central's log says what it"
                    " kept)"
                )
        print()

    # Payment protection: the AI goes down while a customer is at the counter.
    ai.kill()
    session = counter.open_session(store["id"])
    result = counter.infer(session, trays[0][1])
    print(
        f"AI stopped; tray {trays[0][0]} → {result['run']['ai_status']}:"
        f" review #{result['review']['id']} "
        f"({result['review']['reason']}), payable: {result['payable']}"
    )
    refused = counter.checkout(session, reference="card-while-ai-down")
    print(f"    checkout refused: {refused.get('error')}")
    if result["payable"] or refused.get("error") != "not_payable":
        print("demo: a tray was payable while the AI was down", file=sys.stderr)
        return 1
    print(f"\nopen reviews for {store['code']}: {len(counter.open_reviews(store['id']))}")
    return 0


def keep_running(
    central_url: str, staff_key: str, store: dict[str, Any], open_reviews: int
) -> None:
    """Print how to reach the staff console, then wait for Ctrl-C (or SIGTERM)."""
    print()
    print(f"staff console  {central_url}/staff/")
    print(f"staff key      {staff_key}")
    print(f"store number   {store['id']} ({store['code']}), {open_reviews} review(s) open")
    print("both services keep running; Ctrl-C stops them", flush=True)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def _changed_model(ai: Service, ai_key: str, before: str, timeout_s: float = 15) -> str | None:
    """The AI's new model version once Central's feedback reached it; None if it stays."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = str(ai.wait_ready(ai_key)["model_version"])
        if now != before:
            return now
        time.sleep(0.1)
    return None


def print_bill(session: dict[str, Any]) -> None:
    bill = session.get("bill")
    if not bill:
        print(f"    checkout refused: {session.get('error')}: {session.get('message')}")
        return
    for line in bill["lines"]:
        print(
            f"    {line['name']:<28} {line['count']:>2} × {line['unit_price_krw']:>6,}"
            f" = {line['line_total_krw']:>7,} KRW"
        )
    print(
        f"    {'TOTAL':<28} {bill['total_krw']:>24,} KRW"
        f"  ({bill['payment_status']}, {bill['source']})"
    )


if __name__ == "__main__":
    sys.exit(main())
