"""`python -m demo`: the whole checkout flow on one machine, as a counter and the staff see it.

Starts the AI service and Central (embedded SQLite) as real processes on loopback, seeds the demo
store from fixtures/catalog.json, sends the fixture trays through Central (the runbook's §11
calls), prints each decision, bill and review, resolves one review and checks out, shows that a
tray scanned while the AI is down waits for staff, then stops both services.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

from demo.counter import CentralError, Counter
from demo.services import Service, start_ai, start_central
from demo.trays import TRAYS_DIR, load_trays

CATALOG = Path(__file__).resolve().parent.parent / "fixtures" / "catalog.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real", action="store_true", help="the real recognition pipeline (CPU) instead of mock"
    )
    parser.add_argument("--trays", type=Path, default=TRAYS_DIR, help="folder of tray folders")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bakesight-demo-"))
    admin_key, ai_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    services: list[Service] = []
    try:
        trays = load_trays(args.trays)
        ai = start_ai(ai_key, workdir, mock=not args.real)
        services.append(ai)
        central = start_central(
            admin_key, ai_key, ai.url, f"sqlite:///{workdir / 'central.db'}", workdir
        )
        services.append(central)
        ai_ready = ai.wait_ready(ai_key, timeout_s=300)
        central.wait_ready(admin_key)
        print(
            f"AI service  {ai.url}  model {ai_ready.get('model_version')}"
            f" on {ai_ready.get('device')}"
        )
        print(f"Central     {central.url}  database {workdir / 'central.db'}")
        return run_counter(Counter(central.url, admin_key), trays, ai)
    except (CentralError, RuntimeError, OSError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        for service in services:
            print(f"--- last lines of {service.name}'s log:\n{service.tail()}", file=sys.stderr)
        return 1
    finally:
        for service in reversed(services):
            service.stop()
        print(f"services stopped; logs in {workdir}")


def run_counter(counter: Counter, trays: list[tuple[str, list[str]]], ai: Service) -> int:
    store = counter.seed(CATALOG)
    print(f"store       {store['code']} ({store['name']}), products from {CATALOG.name}\n")
    reviewed: list[str] = []
    for name, frames in trays:
        session = counter.open_session(store["id"])
        result = counter.infer(session, frames)
        run = result["run"]
        print(
            f"tray {name}: {len(frames)} frame(s) → {run['decision']} ({run['reason']}), "
            f"AI {run['ai_latency_ms']} ms"
        )
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
            reviewed.append(session)
        print()

    if reviewed:
        session = reviewed[0]
        review = counter.session(session)["reviews"][-1]
        run = counter.session(session)["runs"][-1]
        # The staff confirm the AI's best guesses for what it recognized and drop what it did not.
        items = [{"sku": i["sku"], "count": i["count"]} for i in run["items"] if i["sku"]]
        if not items:
            items = [{"sku": "CROISSANT", "count": 1}]
        resolved = counter.resolve(review["id"], reviewer="staff-kim", items=items)
        print(
            f"staff-kim resolved review #{review['id']}: "
            + ", ".join(f"{i['sku']} ×{i['count']}" for i in resolved["final_items"])
        )
        print_bill(counter.checkout(session, reference=f"card-{session[:8]}"))
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
