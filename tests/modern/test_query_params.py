"""``fastapi_app.deps.query_params``: the request's query parameters, an empty query string not parsed."""

from __future__ import annotations

from starlette.requests import Request

from fastapi_app import deps


def _request(query: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": []})


def test_a_query_string_is_parsed_as_starlette_parses_it():
    request = _request(b"format=json&search=a+b&search=c")
    assert deps.query_params(request) is request.query_params
    assert deps.query_params(request).getlist("search") == ["a b", "c"]


def test_an_empty_query_string_is_not_parsed(monkeypatch):
    request = _request(b"")
    monkeypatch.setattr(Request, "query_params", property(lambda self: 1 / 0))
    params = deps.query_params(request)
    assert not params and params.get("format") is None
