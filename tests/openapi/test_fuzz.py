"""Schemathesis against both services in-process: every answer is one the document declares.

Each operation gets a bounded number of generated requests (valid ones, then invalid ones),
derandomized so a run is the same on every machine. Checks: no 5xx, a declared status code, the
declared content type, a body matching the declared schema. A store with products and an open
tray session exist, and half the generated ids point at them, so the fuzzer reaches past 404s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from central import apidoc as central_apidoc
from servicekit.openapi import EXAMPLE_PNG_B64
from testkit.ai_standin import AiStandIn
from tests.openapi.apps import AI_KEY, CENTRAL_KEY, ai_app, central_app, operations

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation: ~35 operations in all, a few ms each; the whole module stays within minutes on a
# slow shared machine.
EXPLICIT, POSITIVE, NEGATIVE = 3, 30, 15


def _listed(document: dict[str, Any]) -> list[Any]:
    """One pytest param per operation: (method, path, whether it takes any input)."""
    return [
        pytest.param(
            method,
            path,
            _takes_input(document["paths"][path][method.lower()]),
            id=f"{method} {path}",
        )
        for method, path in sorted(operations(document), key=lambda op: (op[1], op[0]))
    ]


def _takes_input(operation: dict[str, Any]) -> bool:
    return bool(operation.get("parameters") or operation.get("requestBody"))


# The operations to fuzz, from documents built without starting anything.
CENTRAL_OPERATIONS = _listed(
    central_apidoc.catalog.document(central_app(Path("/nonexistent")).routes)
)
AI_OPERATIONS = _listed(__import__("ai.apidoc").apidoc.catalog.document(ai_app().routes))


@pytest.fixture(scope="module")
def ai_standin() -> Iterator[AiStandIn]:
    standin = AiStandIn(admin_key="ai-admin-key-for-tests").start()
    yield standin
    standin.stop()


UNSURE = {
    "decision": "REVIEW",
    "reason": "unsure",
    "items": [
        {
            "sku": "BAGEL",
            "count": 1,
            "confidence": 0.6,
            "candidates": [{"sku": "BAGEL", "score": 0.6}],
            "boxes": [{"frame": 0, "box": [1, 1, 20, 20]}],
        }
    ],
    "model_version": "stand-in",
    "device": "cpu",
    "timings_ms": {"total": 1.0},
}


def _scan(client: TestClient, store_id: int) -> str:
    """A new session at the store, scanned once: its uuid."""
    session = client.post("/api/v1/tray-sessions", json={"store_id": store_id, "counter_id": "c1"})
    uuid = str(session.json()["uuid"])
    scan = client.post(
        f"/api/v1/tray-sessions/{uuid}/infer", json={"frames_b64": [EXAMPLE_PNG_B64]}
    )
    assert scan.status_code == 201, scan.text
    return uuid


@pytest.fixture(scope="module")
def central_schema(
    tmp_path_factory: pytest.TempPathFactory, ai_standin: AiStandIn
) -> Iterator[Any]:
    app = central_app(tmp_path_factory.mktemp("central-fuzz"), ai_standin.url)
    with TestClient(app) as client:  # migrates, then seeds what the generated ids point at
        client.headers["X-ADMIN-KEY"] = CENTRAL_KEY
        store = client.post("/api/v1/stores", json={"code": "FUZZ", "name": "Fuzz bakery"}).json()
        for sku in ("BAGEL", "SCONE"):
            client.post(
                f"/api/v1/stores/{store['id']}/products",
                json={"sku": sku, "name": sku.title(), "unit_price_krw": 3000},
            )
        # A tray scanned as AUTO (run 1, its frame archived), one the AI was unsure of (review 1).
        scanned = [_scan(client, store["id"]) for _ in range(2)]
        ai_standin.answer = UNSURE
        _scan(client, store["id"])
        ai_standin.answer = None
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    known = {
        "store_id": store["id"],
        "sku": "BAGEL",
        "session": scanned[0],
        "review_id": 1,
        "run_id": 1,
        "index": 0,
    }

    @schema.hook("map_path_parameters")
    def point_at_seeded_rows(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
        # Every other request goes to rows that exist (the choice follows the generated data).
        if path_parameters and len(repr(path_parameters)) % 2 == 0:
            return {**path_parameters, **{k: v for k, v in known.items() if k in path_parameters}}
        return path_parameters

    yield schema
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def ai_schema() -> Iterator[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", ai_app())
    yield schema
    asgi.shutdown_lifespans()


def fuzz(schema: Any, method: str, path: str, takes_input: bool, headers: dict[str, str]) -> None:
    """The declared examples first, then generated valid requests, then invalid ones."""
    operation = schema[path][method]
    runs = [(strategy, EXPLICIT) for strategy in operation.get_strategies_from_examples()]
    runs.append((operation.as_strategy(generation_mode=GenerationMode.POSITIVE), POSITIVE))
    if takes_input:  # an operation without input has nothing to get wrong
        runs.append((operation.as_strategy(generation_mode=GenerationMode.NEGATIVE), NEGATIVE))
    for strategy, examples in runs:

        @hypothesis.given(case=strategy)
        @hypothesis.settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_declared(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            answers_as_declared()
        except hypothesis.errors.Unsatisfiable:
            # Some inputs take no invalid value (a path segment is any text but "/").
            if examples != NEGATIVE:
                raise


@pytest.mark.parametrize(("method", "path", "takes_input"), CENTRAL_OPERATIONS)
def test_central_answers_as_its_document_says(
    central_schema: Any, method: str, path: str, takes_input: bool
) -> None:
    fuzz(central_schema, method, path, takes_input, {"X-ADMIN-KEY": CENTRAL_KEY})


@pytest.mark.parametrize(("method", "path", "takes_input"), AI_OPERATIONS)
def test_the_ai_answers_as_its_document_says(
    ai_schema: Any, method: str, path: str, takes_input: bool
) -> None:
    fuzz(ai_schema, method, path, takes_input, {"X-ADMIN-KEY": AI_KEY})


# Scenarios along the document's links (a store, then its products; a session, its scan, its
# bill, then a retried payment or a void), each up to STEPS calls.
SCENARIOS, STEPS = 40, 8


def test_central_answers_as_declared_along_its_links(
    central_schema: Any, ai_standin: AiStandIn, tmp_path: Path
) -> None:
    databases = itertools.count()

    class Scenarios(central_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario on a new, empty database: what it creates (a taken store code, a
            # billed tray) decides what its links find, so a replayed scenario finds the same.
            ai_standin.reset()
            folder = tmp_path / f"scenario-{next(databases)}"
            folder.mkdir()
            self.app = central_app(folder, ai_standin.url)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": self.app, "headers": {"X-ADMIN-KEY": CENTRAL_KEY}}

        def validate_response(self, response: Any, case: Any, *_: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    Scenarios.run(
        settings=hypothesis.settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
