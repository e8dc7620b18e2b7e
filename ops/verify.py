"""`nox -s verify`: the runbook's §11 check as code, against the deployed Central.

Central's URL comes from Cloud Run and the admin key from Secret Manager (both through gcloud),
unless given. The steps, each one line, stopping at the first failure: health, readiness (the
database and, where Central reports it, the AI), the store list, a store and product of its own
(`VERIFY-<time>`, so no demo data is touched), a tray session, infer with a committed sample tray
(ai/smoke_samples), the run (the AI must have answered), the review, its resolution, checkout.

The verify product has no reference photos, so the AI cannot be sure and the tray goes to review:
that exercises the staff path, and the bill must equal the resolved items at the server's price.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.gcloud import Gcloud, GcloudError
from stacks.config import StackConfig

SAMPLES = Path(__file__).resolve().parent.parent / "ai" / "smoke_samples"
ADMIN_KEY_SECRET = "BAKE_SIGHT_ADMIN_KEY"  # noqa: S105 - the secret's name, not its value
VERIFY_SKU = "VERIFY-BREAD"
VERIFY_PRICE_KRW = 1000


class StepFailed(Exception):
    pass


@dataclass(frozen=True)
class Target:
    url: str
    admin_key: str


def discover(gcloud: Gcloud, config: StackConfig) -> Target:
    """Central's URL (Cloud Run) and admin key (Secret Manager), or StepFailed saying why."""
    try:
        service = gcloud.json(
            "run", "services", "describe", config.names.central_service, f"--region={config.region}"
        )
    except GcloudError as error:
        raise StepFailed(
            f"Cloud Run service {config.names.central_service} not found ({error.stderr}): "
            "is the stack deployed (`nox -s deploy`)?"
        ) from error
    url = (service or {}).get("status", {}).get("url") or (service or {}).get("uri")
    if not url:
        raise StepFailed(f"Cloud Run service {config.names.central_service} has no URL yet")
    try:
        key = gcloud.text("secrets", "versions", "access", "latest", f"--secret={ADMIN_KEY_SECRET}")
    except GcloudError as error:
        raise StepFailed(f"cannot read secret {ADMIN_KEY_SECRET} ({error.stderr})") from error
    return Target(url.rstrip("/"), key.strip())


class Central:
    def __init__(self, target: Target, timeout_s: float = 60) -> None:
        self.target, self.timeout_s = target, timeout_s

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, auth: bool = True
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the operator's own https Cloud Run URL
            self.target.url + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("X-ADMIN-KEY", self.target.admin_key)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise StepFailed(f"{method} {path}: {error}") from error
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")[:200]

    def expect(
        self, status: int, method: str, path: str, body: dict[str, Any] | None = None
    ) -> Any:
        got, payload = self.call(method, path, body)
        if got != status:
            raise StepFailed(f"{method} {path} answered {got}, not {status}: {payload}")
        return payload


def sample_tray(folder: Path = SAMPLES) -> tuple[list[str], int]:
    """The first committed sample tray: its frames (base64) and how many items it holds."""
    manifest = json.loads((folder / "manifest.json").read_text())
    tray = manifest["trays"][0]
    frames = [base64.b64encode((folder / name).read_bytes()).decode() for name in tray["frames"]]
    return frames, sum(tray["truth"].values())


def run_verify(
    target: Target, say: Callable[[str], None] = print, now: Callable[[], float] = time.time
) -> int:
    central = Central(target)
    state: dict[str, Any] = {}
    frames, items = sample_tray()

    def health() -> str:
        central.expect(200, "GET", "/health")
        return target.url

    def ready() -> str:
        status, body = central.call("GET", "/ready")
        if status != 200 or not isinstance(body, dict) or body.get("ready") is not True:
            raise StepFailed(f"/ready answered {status}: {body}")
        ai = body.get("ai")
        if ai is None:
            state["ai_from_ready"] = None
            return f"schema {body.get('schema_version')}; AI readiness checked by the infer step"
        if not (ai is True or (isinstance(ai, dict) and ai.get("ready") is True)):
            raise StepFailed(f"Central is ready but reports the AI as not ready: {ai}")
        return f"schema {body.get('schema_version')}; AI ready"

    def stores() -> str:
        listed = central.expect(200, "GET", "/api/v1/stores")
        return f"{len(listed.get('items', []))} store(s) listed"

    def store() -> str:
        code = time.strftime("VERIFY-%Y%m%d-%H%M%S", time.gmtime(now()))
        created = central.expect(
            201,
            "POST",
            "/api/v1/stores",
            {"code": code, "name": "BakeSight verify", "timezone": "Asia/Seoul"},
        )
        state["store"] = created["id"]
        central.expect(
            201,
            "POST",
            f"/api/v1/stores/{created['id']}/products",
            {"sku": VERIFY_SKU, "name": "Verify bread", "unit_price_krw": VERIFY_PRICE_KRW},
        )
        return f"store {code} (id {created['id']}) with {VERIFY_SKU}"

    def session() -> str:
        opened = central.expect(
            201,
            "POST",
            "/api/v1/tray-sessions",
            {"store_id": state["store"], "counter_id": "verify"},
        )
        state["session"] = opened["uuid"]
        return f"session {opened['uuid']}"

    def infer() -> str:
        answer = central.expect(
            201, "POST", f"/api/v1/tray-sessions/{state['session']}/infer", {"frames_b64": frames}
        )
        run = answer["run"]
        state["answer"] = answer
        if run.get("ai_status") != "OK":
            raise StepFailed(
                f"Central could not use the AI (ai_status {run.get('ai_status')}): is the VM "
                "running (opening hours) and the service up (`journalctl -u ai-inference`)?"
            )
        return f"decision {run['decision']} from {run.get('model_version')}, AI answered"

    def review() -> str:
        answer = state["answer"]
        if answer.get("review") is None:
            if not answer.get("payable"):
                raise StepFailed("no review, yet the session is not payable")
            return "AUTO: no review needed"
        review_id = answer["review"]["id"]
        resolved = central.expect(
            200,
            "POST",
            f"/api/v1/reviews/{review_id}/resolve",
            {"reviewer": "verify", "items": [{"sku": VERIFY_SKU, "count": items}]},
        )
        if resolved.get("session_status") != "PAYABLE":
            raise StepFailed(f"resolving review {review_id} left the session {resolved}")
        return f"review {review_id} resolved: {items} x {VERIFY_SKU}"

    def checkout() -> str:
        billed = central.expect(
            201,
            "POST",
            f"/api/v1/tray-sessions/{state['session']}/checkout",
            {"payment_status": "PAID", "payment_reference": "verify"},
        )
        bill = billed["bill"]
        if (
            state["answer"].get("review") is not None
            and bill["total_krw"] != items * VERIFY_PRICE_KRW
        ):
            raise StepFailed(f"bill {bill['total_krw']} KRW, expected {items * VERIFY_PRICE_KRW}")
        return f"bill {bill['total_krw']} KRW ({bill['source']})"

    steps: list[tuple[str, Callable[[], str]]] = [
        ("health", health),
        ("ready", ready),
        ("stores", stores),
        ("store", store),
        ("tray session", session),
        ("infer", infer),
        ("review", review),
        ("checkout", checkout),
    ]
    for name, step in steps:
        try:
            detail = step()
        except StepFailed as error:
            say(f"verify: FAIL {name:<12} {error}")
            return 1
        except (KeyError, TypeError, ValueError) as error:
            say(f"verify: FAIL {name:<12} unexpected answer ({type(error).__name__}: {error})")
            return 1
        say(f"verify: ok   {name:<12} {detail}")
    say("verify: the deployed demo works end to end")
    return 0
