"""OpenAPI 3.0.3 from declarations that sit next to the routes.

A route is declared once, as an `Operation` (its query parameters, its JSON body's schema and every
answer it can give, each with its schema) that also builds the route (`Catalog.routes`). The body
and query schemas are plain dicts built by `servicekit.schema` (re-exported here); the service
checks a request against the same dict (`problem`), and `Catalog.document` renders every declared
route of an app, so the page a client reads and the check the server makes cannot drift apart.

Version 3.0.3, not 3.1: the Swagger UI that `/docs` serves offline (swagger-ui-bundle) reads 3.0.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from servicekit.schema import (
    MULTILINE,
    SINGLE_LINE,
    Schema,
    Violation,
    array,
    boolean,
    coded,
    integer,
    nullable,
    number,
    obj,
    problem,
    ref,
    string,
    violation,
)

# The schema builders and the check, for routes that declare with `oa.` alone.
__all__ = [
    "MULTILINE",
    "SINGLE_LINE",
    "Answer",
    "Catalog",
    "DeclaredRoute",
    "Operation",
    "Param",
    "Schema",
    "Violation",
    "array",
    "boolean",
    "coded",
    "document",
    "error",
    "integer",
    "link",
    "nullable",
    "number",
    "obj",
    "problem",
    "query",
    "ref",
    "refusals",
    "string",
    "violation",
]

OPENAPI_VERSION = "3.0.3"
JSON = "application/json"
_PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")


@dataclass(frozen=True)
class Param:
    """A query (or path) parameter: its name, schema, and whether it must be given."""

    name: str
    schema: Schema
    where: str = "query"
    required: bool = False
    description: str | None = None

    def render(self) -> Schema:
        out: Schema = {"name": self.name, "in": self.where, "schema": self.schema}
        if self.required or self.where == "path":
            out["required"] = True
        if self.description:
            out["description"] = self.description
        return out


def query(
    name: str, schema: Schema, *, required: bool = False, description: str | None = None
) -> Param:
    return Param(name, schema, "query", required, description)


@dataclass(frozen=True)
class Answer:
    """One response: its description, and its JSON schema (or other media types with theirs)."""

    description: str
    schema: Schema | None = None
    media: Mapping[str, Schema] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Operations this answer leads to, with the path parameters taken from its body.
    links: Mapping[str, Schema] = field(default_factory=dict)

    def render(self) -> Schema:
        out: Schema = {"description": self.description}
        content = dict(self.media or {})
        if self.schema is not None:
            content[JSON] = self.schema
        if content:
            out["content"] = {media: {"schema": schema} for media, schema in content.items()}
        if self.headers:
            out["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in self.headers.items()
            }
        if self.links:
            out["links"] = dict(self.links)
        return out


def link(operation_id: str, body: Schema | None = None, **from_body: str) -> Schema:
    """A link to `operation_id`, each named path parameter from this JSON pointer of the body.

    `body`: the linked request's body; a string value `$response.body#/…` is taken from the answer.
    """
    out: Schema = {"operationId": operation_id}
    if from_body:
        out["parameters"] = {name: f"$response.body#{ptr}" for name, ptr in from_body.items()}
    if body is not None:
        out["requestBody"] = body
    return out


def refusals(*groups: Mapping[int, str]) -> dict[int, str]:
    """Error descriptions by status, from several groups: one status's texts are joined."""
    joined: dict[int, list[str]] = {}
    for group in groups:
        for status, text in group.items():
            joined.setdefault(status, []).append(text)
    return {status: "; ".join(dict.fromkeys(texts)) for status, texts in joined.items()}


def answers(ok: Mapping[int, Answer], refused: Iterable[tuple[int, str]]) -> dict[int, Answer]:
    """An operation's answers by status: its own `ok` ones, then each refusal status as an
    `Error` whose description joins that status's texts (an `ok` answer keeps its status)."""
    joined: dict[int, list[str]] = {}
    for status, text in refused:
        joined.setdefault(status, []).append(text)
    out = dict(ok)
    for status, texts in joined.items():
        out.setdefault(status, error("; ".join(dict.fromkeys(texts))))
    return dict(sorted(out.items()))


def error(description: str, *, headers: Mapping[str, str] | None = None) -> Answer:
    """An error answer: the shared Error body."""
    return Answer(description, ref("Error"), headers=headers or {})


@dataclass(frozen=True)
class Operation:
    """Everything the document says about one method on one path."""

    method: str
    path: str  # as Starlette routes it: `{store_id:id}` keeps its convertor
    responses: Mapping[int, Answer]
    endpoint: Callable[..., Any]
    summary: str | None = None
    description: str | None = None
    params: Sequence[Param] = ()
    path_params: Mapping[str, Schema] = field(default_factory=dict)
    body: Schema | None = None
    body_required: bool = True
    headers: Sequence[Param] = ()
    tags: Sequence[str] = ()
    security: Sequence[str] | None = None  # names of security schemes, any one of which will do
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: `/stores/{store_id}`."""
        return _PARAM.sub(lambda match: "{" + match.group(1) + "}", self.path)

    def render(self, convertor_schemas: Mapping[str, Schema]) -> Schema:
        doc = inspect.getdoc(self.endpoint)
        summary, _, rest = (doc or "").partition("\n")
        out: Schema = {
            "operationId": self.operation_id(),
            "summary": self.summary or summary.strip() or f"{self.method} {self.template}",
        }
        description = "\n\n".join(
            part for part in (self.description or rest.strip(), self._keys_line()) if part
        )
        if description:
            out["description"] = description
        if self.tags:
            out["tags"] = list(self.tags)
        parameters = [
            Param(
                name,
                self.path_params.get(name) or convertor_schemas.get(kind or "str", {}),
                "path",
            ).render()
            for name, kind in _PARAM.findall(self.path)
        ]
        parameters += [param.render() for param in (*self.params, *self.headers)]
        if parameters:
            out["parameters"] = parameters
        if self.body is not None:
            out["requestBody"] = {
                "required": self.body_required,
                "content": {JSON: {"schema": self.body}},
            }
        out["responses"] = {
            str(status): answer.render() for status, answer in self.responses.items()
        }
        if self.security is not None:
            out["security"] = [{name: []} for name in self.security]
        out.update(self.extra)
        return out

    def operation_id(self) -> str:
        return str(self.endpoint.__name__)

    def _keys_line(self) -> str:
        if self.security is None:
            return ""
        if not self.security:
            return "Keys: none."
        return "Keys: " + " or ".join(self.security) + "."


class DeclaredRoute(Route):
    """A Starlette route that carries its OpenAPI declaration."""

    def __init__(self, operation: Operation) -> None:
        super().__init__(operation.path, operation.endpoint, methods=[operation.method])
        self.operation = operation


# Path parameters by Starlette convertor: what each lets through.
CONVERTOR_SCHEMAS: dict[str, Schema] = {
    "str": string(min_length=1, pattern="^[^/]+$"),
    # servicekit.routing's `{name:id}`: 1 to 18 decimal digits
    "id": integer(minimum=0, maximum=10**18 - 1),
    "int": integer(minimum=0),
}


def declared_operations(routes: Iterable[BaseRoute]) -> list[Operation]:
    return [route.operation for route in routes if isinstance(route, DeclaredRoute)]


def document(
    info: Mapping[str, Any],
    operations: Iterable[Operation],
    *,
    schemas: Mapping[str, Schema],
    security_schemes: Mapping[str, Schema],
    responses: Mapping[str, Answer] | None = None,
    tags: Sequence[Mapping[str, str]] = (),
) -> Schema:
    """The OpenAPI document of these operations; `schemas` are the shared named ones."""
    paths: dict[str, dict[str, Schema]] = {}
    for operation in operations:
        paths.setdefault(operation.template, {})[operation.method.lower()] = operation.render(
            CONVERTOR_SCHEMAS
        )
    out: Schema = {
        "openapi": OPENAPI_VERSION,
        "info": dict(info),
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(dict(schemas)),
            "securitySchemes": dict(security_schemes),
        },
    }
    if responses:
        out["components"]["responses"] = {
            name: answer.render() for name, answer in responses.items()
        }
    if tags:
        out["tags"] = [dict(tag) for tag in tags]
    return out


# A 32x32 PNG (a brown roll on a tan tray): the documents' example frame, so "Try it out" in
# /docs and the fuzzer's explicit examples send an image the services accept.
EXAMPLE_PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAIAAAD8GO2jAAAAd0lEQVR42mM8saqCgZaAiYHGYNSCUQsoByzEKz23YQ"
    "My1ygggGoWoBmNLEjQGibyTCdSlrAFBPUTVMNEoekEVQ5cMiXe+fjVj+bkQWwBkSUBQfUDGkTEewKPSiaydRKpholC"
    "/QRdwEJ8CNCwPiAvXY3m5FELqAUAl6onBFXHsyUAAAAASUVORK5CYII="
)


# The error body both services answer with: a code, a sentence, and details that vary.
ERROR_SCHEMA = obj(
    {
        "error": string(description="a stable code, e.g. invalid_field, not_found"),
        "message": string(description="one sentence naming the problem and the limit"),
        "frame": integer(nullable=True, description="the frame or photo index concerned"),
        "limit": string(nullable=True, description="the limit or rule the request broke"),
    },
    required=["error", "message"],
    description="Every refusal: `error` and `message`, then details that depend on the error.",
)


class Catalog:
    """One service's declarations: its shared schemas and its document."""

    def __init__(self, info: Mapping[str, Any], security_schemes: Mapping[str, Schema]) -> None:
        self.info = dict(info)
        self.security_schemes = dict(security_schemes)
        self.schemas: dict[str, Schema] = {"Error": ERROR_SCHEMA}

    def routes(self, *operations: Operation) -> list[DeclaredRoute]:
        """The routes of these declarations."""
        return [DeclaredRoute(operation) for operation in operations]

    def document(self, app_routes: Iterable[BaseRoute]) -> Schema:
        return document(
            self.info,
            declared_operations(app_routes),
            schemas=self.schemas,
            security_schemes=self.security_schemes,
            responses={"MethodNotAllowed": error("the path does not serve this method")},
        )

    async def openapi(self, request: Request) -> JSONResponse:
        """This OpenAPI document."""
        built = getattr(request.app.state, "openapi", None)
        if built is None:
            built = request.app.state.openapi = self.document(request.app.routes)
        return JSONResponse(built)
