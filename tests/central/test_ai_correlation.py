"""Every call Central makes to the AI carries the request id and trace of the request it answers.

So the AI's log lines join Central's in Cloud Logging. The stand-in is a real HTTP server that
records what reached it.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.testclient import TestClient

from testkit.ai_standin import AiStandIn, answer, tiny_png

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def traced(request_id: str) -> dict[str, str]:
    return {"X-Request-Id": request_id, "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}


def headers_of(request: dict[str, Any]) -> dict[str, str]:
    return {name.lower(): value for name, value in request["headers"].items()}


def test_each_ai_call_carries_the_id_and_trace_of_the_request_that_made_it(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    other = client.post("/api/v1/stores", json={"code": f"T-{uuid.uuid4().hex[:10]}", "name": "B"})
    photos = f"/api/v1/stores/{store['id']}/products/SCONE/photos"
    ai.answer = answer("REVIEW", [("SCONE", 1, 0.55)])
    session = client.post(
        "/api/v1/tray-sessions", json={"store_id": store["id"], "counter_id": "c1"}
    ).json()

    def call(request_id: str, method: str, path: str, body: Any = None) -> Any:
        before = len(ai.requests)
        response = client.request(method, path, json=body, headers=traced(request_id))
        assert response.is_success, (request_id, response.text)
        [sent] = ai.requests[before:]
        assert headers_of(sent)["x-request-id"] == request_id, (request_id, sent["path"])
        assert headers_of(sent)["traceparent"] == traced(request_id)["traceparent"]
        return response.json()

    scanned = call(
        "scan",
        "POST",
        f"/api/v1/tray-sessions/{session['uuid']}/infer",
        {"frames_b64": [tiny_png()]},
    )
    call("add-photo", "POST", photos, {"photos_b64": [tiny_png()]})
    call("list-photos", "GET", photos)
    call("drop-photo", "DELETE", f"{photos}/{ai.photos[(str(store['id']), 'SCONE')][0]}")
    background = f"/api/v1/stores/{store['id']}/counters/c1/background"
    call("empty-tray", "POST", background, {"frames_b64": [tiny_png()]})
    call("add-photo-2", "POST", photos, {"photos_b64": [tiny_png()]})
    seed = f"/api/v1/stores/{other.json()['id']}/gallery/seed"
    call("seed", "POST", seed, {"from_store_id": store["id"]})

    # The review's resolution teaches the AI after the answer: still on the resolution's id.
    review = scanned["review"]
    resolved = client.post(
        f"/api/v1/reviews/{review['id']}/resolve",
        json={"reviewer": "kim", "items": [{"sku": "SCONE", "count": 1}]},
        headers=traced("resolve"),
    )
    assert resolved.status_code == 200, resolved.text
    [feedback] = [r for r in ai.requests if r["path"] == "/v1/feedback"]
    assert headers_of(feedback)["x-request-id"] == "resolve"


def test_a_call_without_a_client_id_carries_centrals_own(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    response = client.get(f"/api/v1/stores/{store['id']}/products/SCONE/photos")

    assert response.status_code == 200
    sent = headers_of(ai.requests[-1])
    assert sent["x-request-id"] == response.headers["x-request-id"]
    assert "traceparent" not in sent and "x-cloud-trace-context" not in sent


def test_a_malformed_trace_header_is_not_passed_on(
    client: TestClient, store: dict[str, Any], ai: AiStandIn
) -> None:
    client.get(
        f"/api/v1/stores/{store['id']}/products/SCONE/photos",
        headers={"traceparent": "00-not-a-trace-01", "X-Cloud-Trace-Context": "zz/1;o=1"},
    )

    sent = headers_of(ai.requests[-1])
    assert "traceparent" not in sent and "x-cloud-trace-context" not in sent
