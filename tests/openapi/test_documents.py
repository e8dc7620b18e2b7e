"""Both services publish a valid OpenAPI document that names every route they serve, as served."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from central.roles import staff_may
from tests.openapi.apps import AI_KEY, CENTRAL_KEY, ai_app, central_app, operations

# Served but not API operations: the docs page and its assets, the staff console's files.
INTERNAL = re.compile(r"^/docs(/|$)|^/staff(/|$)")


@pytest.fixture(scope="module")
def central_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with TestClient(
        central_app(tmp_path_factory.mktemp("central")), raise_server_exceptions=False
    ) as client:
        yield client


@pytest.fixture(scope="module")
def ai_client() -> Any:
    with TestClient(ai_app(), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(params=["central", "ai"])
def service(request: pytest.FixtureRequest) -> tuple[str, TestClient]:
    return request.param, request.getfixturevalue(f"{request.param}_client")


def served(app: Starlette) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route the app serves, HEAD aside."""
    found = set()
    for route in app.routes:
        if isinstance(route, Mount) or not isinstance(route, Route) or INTERNAL.match(route.path):
            continue
        template = re.sub(r"{([^}:]+)(?::[^}]+)?}", r"{\1}", route.path)
        found |= {(method, template) for method in route.methods or () if method != "HEAD"}
    return found


def test_each_service_serves_a_valid_openapi_3_document(service: tuple[str, TestClient]) -> None:
    _, client = service
    r = client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    document = r.json()
    assert document["openapi"] == "3.0.3"
    validate(document)  # raises, naming the first problem, when the document is not valid


def test_the_document_names_every_served_route_and_nothing_else(
    service: tuple[str, TestClient],
) -> None:
    name, client = service
    declared = operations(client.get("/openapi.json").json())
    routes = served(client.app)  # type: ignore[arg-type]
    assert routes - declared == set(), "served but not in the document"
    assert declared - routes == set(), "in the document but not served"


def test_every_path_parameter_is_declared_with_the_path(service: tuple[str, TestClient]) -> None:
    _, client = service
    for path, item in client.get("/openapi.json").json()["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, f"{method.upper()} {path}"


def test_every_operation_declares_its_answers_with_schemas(service: tuple[str, TestClient]) -> None:
    _, client = service
    for path, item in client.get("/openapi.json").json()["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), f"{method} {path}"
            assert "431" in responses, f"{method} {path}"
            for code, answer in responses.items():
                if code.startswith(("4", "5")) and code not in {"503"}:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path}"


def test_the_error_schema_requires_a_code_and_a_message(service: tuple[str, TestClient]) -> None:
    _, client = service
    error = client.get("/openapi.json").json()["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
    assert error["properties"]["error"]["type"] == "string"
    assert error.get("additionalProperties", True) is True  # details vary by error


def test_bodies_and_query_parameters_are_declared(central_client: TestClient) -> None:
    paths = central_client.get("/openapi.json").json()["paths"]
    new_store = paths["/api/v1/stores"]["post"]["requestBody"]["content"]["application/json"]
    assert new_store["schema"]["required"] == ["code", "name"]
    assert new_store["schema"]["additionalProperties"] is False
    limit = next(p for p in paths["/api/v1/stores"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}


def test_each_central_operation_names_the_keys_that_may_call_it(central_client: TestClient) -> None:
    paths = central_client.get("/openapi.json").json()["paths"]
    for path, item in paths.items():
        sample = re.sub(r"{[^}]+}", "1", path)
        for method, operation in item.items():
            keys = {name for option in operation["security"] for name in option}
            if not path.startswith("/api/v1"):
                assert keys == set(), path  # health, readiness, metrics, the document
            elif staff_may(method.upper(), sample):
                assert keys == {"adminKey", "staffKey"}, f"{method} {path}"
                assert "403" not in operation["responses"]
            else:
                assert keys == {"adminKey"}, f"{method} {path}"
                assert "403" in operation["responses"]
            if keys:
                assert "401" in operation["responses"]
                assert "Keys: " in operation["description"]


def test_the_documented_staff_key_really_reads_and_is_refused_writes(
    central_client: TestClient,
) -> None:
    r = central_client.get(
        "/api/v1/stores", headers={"X-STAFF-KEY": "central-staff-key-for-openapi"}
    )
    assert r.status_code == 200
    r = central_client.post(
        "/api/v1/stores", json={}, headers={"X-STAFF-KEY": "central-staff-key-for-openapi"}
    )
    assert r.status_code == 403


def test_the_ai_document_needs_no_key_but_its_routes_do(ai_client: TestClient) -> None:
    document = ai_client.get("/openapi.json").json()
    infer = document["paths"]["/v1/infer"]["post"]
    assert infer["security"] == [{"adminKey": []}] and "401" in infer["responses"]
    assert ai_client.post("/v1/infer", json={}).status_code == 401
    assert ai_client.post("/v1/infer", json={}, headers={"X-ADMIN-KEY": AI_KEY}).status_code == 422


def test_store_galleries_and_bills_carry_their_agreed_shapes(
    central_client: TestClient, ai_client: TestClient
) -> None:
    ai_paths = ai_client.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/v1/infer", "post"),
        ("/v1/feedback", "post"),
        ("/v1/products/{sku}/photos", "post"),
    ]:
        body = ai_paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["store_id"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$", path
        assert "store_id" not in body.get("required", [])
    for path, method in [
        ("/v1/products/{sku}/photos", "get"),
        ("/v1/products/{sku}/photos/{photo_id}", "delete"),
    ]:
        params = {p["name"]: p for p in ai_paths[path][method]["parameters"]}
        assert params["store_id"]["in"] == "query" and not params["store_id"].get("required")
    seed = ai_paths["/v1/stores/{store_id}/seed"]["post"]
    assert seed["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "from_store_id"
    ]
    assert set(seed["responses"]["200"]["content"]["application/json"]["schema"]["required"]) == {
        "store_id",
        "from_store_id",
        "copied",
    }
    central_paths = central_client.get("/openapi.json").json()["paths"]
    bills = central_paths["/api/v1/stores/{store_id}/bills"]["get"]
    params = {p["name"]: p["schema"] for p in bills["parameters"]}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    assert set(params["status"]["enum"]) == {"PAID", "PENDING", "FAILED", "VOIDED"}
    seed_body = central_paths["/api/v1/stores/{store_id}/gallery/seed"]["post"]["requestBody"]
    schema = seed_body["content"]["application/json"]["schema"]
    assert schema["properties"]["from_store_id"]["type"] == "integer"
    assert schema["properties"]["skus"]["items"]["type"] == "string"


def test_docs_is_served_with_local_assets_only(service: tuple[str, TestClient]) -> None:
    _, client = service
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(url.startswith("/docs/") for url in urls), urls
    assert "http://" not in page.text and "https://" not in page.text
    assert '"validatorUrl": null' in page.text  # no badge fetched from swagger.io
    assert '"url": "/openapi.json"' in page.text
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 500, url
    script = client.get("/docs/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_docs_pages_name_only_the_pinned_bundle(service: tuple[str, TestClient]) -> None:
    from swagger_ui_bundle import swagger_ui_path

    assert Path(str(swagger_ui_path)).name == "swagger-ui-4.15.5"
    _, client = service
    assert client.get("/docs/index.html").status_code in (401, 404)  # only the assets it needs


def test_central_refuses_each_field_its_document_does_not_declare(
    central_client: TestClient,
) -> None:
    """The fields a body may hold are the declared ones: the check reads the same schema."""
    document = central_client.get("/openapi.json").json()
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            assert body["schema"].get("additionalProperties") is False, f"{method} {path}"
            url = re.sub(r"{[^}]+}", "1", path)
            r = central_client.request(
                method, url, json={"not_a_field": 1}, headers={"X-ADMIN-KEY": CENTRAL_KEY}
            )
            assert r.status_code == 422, f"{method} {path}: {r.text}"
            assert r.json()["field"] == "not_a_field"
            known = r.json()["message"].split("(known: ")[1].rstrip(")").split(", ")
            assert known == sorted(body["schema"]["properties"]), f"{method} {path}"
            checked += 1
    assert checked >= 12
