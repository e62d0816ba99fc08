"""Generated cases: operations of an OpenAPI schema mapped to routes through the manifest, never a fixed map."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cutover.parity.cases import Auth
from cutover.parity.generated import SchemaError, generated_cases, route_for
from cutover.proxy.manifest import load_manifest, parse_manifest

from .conftest import PROJECT

MANIFEST = parse_manifest("""
[backends.legacy]
servers = ["127.0.0.1:8001"]
[backends.modern]
servers = ["127.0.0.1:8002"]

[[routes]]
id = "orders"
match = "exact"
path = "/api/orders/"

[[routes]]
id = "order"
match = "pattern"
path = "^/api/orders/[0-9]+/$"
methods = ["GET"]

[[routes]]
id = "shop"
match = "prefix"
path = "/shop/"

[[routes]]
id = "shop-cart"
match = "prefix"
path = "/shop/cart/"
""")


def op(params: list | None = None, body: bool = False) -> dict:
    operation: dict = {"responses": {"200": {"description": "ok"}}}
    if params:
        operation["parameters"] = params
    if body:
        operation["requestBody"] = {
            "content": {
                "application/json": {"schema": {"type": "object", "properties": {"item": {"type": "string"}}}}
            }
        }
    return operation


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
PAGE = {"name": "page", "in": "query", "schema": {"type": "integer"}}
SCHEMA = {
    "openapi": "3.0.3",
    "info": {"title": "orders", "version": "1"},
    "paths": {
        "/api/orders/": {"get": op([PAGE]), "post": op(body=True)},
        "/api/orders/{id}/": {"get": op([ID]), "delete": op([ID])},
        "/api/other/": {"get": op()},
    },
}


def test_routes_are_found_as_the_front_door_finds_them():
    routes = MANIFEST.routes
    assert route_for(routes, "GET", "/api/orders/") == "orders"
    assert route_for(routes, "GET", "/api/orders/7/") == "order"
    assert route_for(routes, "DELETE", "/api/orders/7/") is None  # the route covers GET only
    assert route_for(routes, "GET", "/shop/cart/items/") == "shop-cart"  # the longest prefix
    assert route_for(routes, "GET", "/shop/") == "shop"
    assert route_for(routes, "GET", "/elsewhere/") is None


def test_operations_map_to_routes_through_the_manifest_and_the_rest_is_named():
    drawn = generated_cases(
        9, 3, routes=MANIFEST.routes, identities=[Auth(), Auth("token", "maria")], schema=SCHEMA
    )
    assert len(drawn.cases) == 9
    assert {(c.method, c.route) for c in drawn.cases} == {
        ("GET", "orders"),
        ("POST", "orders"),
        ("GET", "order"),
    }
    assert drawn.unrouted == ("DELETE /api/orders/{id}/", "GET /api/other/")
    assert {str(c.auth) for c in drawn.cases} == {"anonymous", "token:maria"}
    assert len({c.key for c in drawn.cases}) == 9
    again = generated_cases(
        9, 3, routes=MANIFEST.routes, identities=[Auth(), Auth("token", "maria")], schema=SCHEMA
    )
    assert [(c.key, c.path, c.query) for c in again.cases] == [(c.key, c.path, c.query) for c in drawn.cases]


def test_integer_path_parameters_are_mostly_keys_of_the_fixture():
    drawn = generated_cases(12, 5, routes=MANIFEST.routes, schema=SCHEMA).cases
    detail = [c for c in drawn if c.route == "order"]
    fixture = SimpleNamespace(integer_keys=lambda: (101, 102, 103))
    paths = [c.prepared(fixture).path for c in detail]
    assert all(p.startswith("/api/orders/") for p in paths)
    assert any(p in ("/api/orders/101/", "/api/orders/102/", "/api/orders/103/") for p in paths)


def test_a_schema_no_route_takes_is_one_clear_error_not_a_crash():
    unknown = {**SCHEMA, "paths": {"/api/other/": {"get": op()}}}
    with pytest.raises(
        SchemaError,
        match=r"no operation of the OpenAPI schema is taken by a route of the manifest \(operations: GET /api/other/\)",
    ):
        generated_cases(5, 1, routes=MANIFEST.routes, schema=unknown)
    empty = {**SCHEMA, "paths": {}}
    with pytest.raises(SchemaError, match="operations: none"):
        generated_cases(5, 1, routes=MANIFEST.routes, schema=empty)
    assert generated_cases(0, 1, routes=(), schema=empty).cases == []


def test_a_schema_schemathesis_refuses_is_one_line():
    with pytest.raises(SchemaError, match="schemathesis refused the OpenAPI schema"):
        generated_cases(5, 1, routes=MANIFEST.routes, schema={"swagger": "nonsense"})


def test_the_demos_cases_are_deterministic_per_seed_and_spread_over_its_routes():
    routes = load_manifest(PROJECT.proxy.manifest).routes
    identities = [Auth(), Auth("token", "alice"), Auth("session", "bob")]
    first, again, other = (
        generated_cases(12, s, routes=routes, identities=identities).cases for s in (1, 1, 2)
    )
    assert len(first) == 12 and [c.key for c in first] == [c.key for c in again]
    assert [(c.method, c.path, c.query, c.json if c.has_json else c.form) for c in first] == [
        (c.method, c.path, c.query, c.json if c.has_json else c.form) for c in again
    ]
    assert [(c.path, c.query) for c in first] != [(c.path, c.query) for c in other]
    assert {c.route for c in first} == {"auth-token", "users", "user-detail", "users-me"}
    assert all(c.generated for c in first)


def test_drawing_stops_once_it_has_its_cases_and_they_are_the_same():
    """Hypothesis is stopped at the last example kept: every operation of the demo gives exactly the
    examples a drawing to the end gives, after trying fewer."""
    import schemathesis

    from cutover.parity.generated import _draw, legacy_schema

    operations = [r.ok() for r in schemathesis.openapi.from_dict(legacy_schema()).get_all_operations()]
    assert len(operations) >= 5
    tried = {True: 0, False: 0}
    for index, operation in enumerate(operations):
        drawn = {}
        for stop in (True, False):

            def counted(example, stop=stop):
                tried[stop] += 1
                return example

            counting = SimpleNamespace(as_strategy=lambda op=operation: op.as_strategy().map(counted))
            drawn[stop] = [
                (e.method, e.path_parameters, e.query, e.body)
                for e in _draw(counting, 4, 7 + index, stop=stop)
            ]
        assert drawn[True] == drawn[False] and len(drawn[True]) == 4, operation.path
    assert tried[True] < tried[False]


def test_a_project_without_drf_spectacular_as_its_schema_class_still_gets_its_schema(settings):
    """DRF's own AutoSchema as DEFAULT_SCHEMA_CLASS (DRF's default, common where drf-spectacular is installed
    but not configured): drf-spectacular's is used for the document, the project's settings untouched."""
    from rest_framework.schemas.openapi import AutoSchema as DrfAutoSchema
    from rest_framework.settings import api_settings

    from cutover.parity.generated import legacy_schema

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK, "DEFAULT_SCHEMA_CLASS": "rest_framework.schemas.openapi.AutoSchema"
    }  # fmt: skip
    assert api_settings.DEFAULT_SCHEMA_CLASS is DrfAutoSchema
    document = legacy_schema()
    assert "/api/users/{id}/" in document["paths"] and "get" in document["paths"]["/api/users/{id}/"]
    assert api_settings.DEFAULT_SCHEMA_CLASS is DrfAutoSchema  # as the project set it
