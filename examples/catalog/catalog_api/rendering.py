"""Answers rendered as the legacy renders them: DRF's JSONRenderer and content negotiation, Django's
HTML error pages and its APPEND_SLASH redirect."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

__all__ = [
    "HTML",
    "JSON",
    "api_response",
    "django_error_page",
    "iri_to_uri",
    "negotiate",
    "parse_header_parameters",
    "slash_redirect_or_404",
]

JSON = "application/json"
HTML = "text/html; charset=utf-8"

# django.views.defaults.ERROR_PAGE_TEMPLATE, as the non-DEBUG handlers render it.
_ERROR_PAGE = """
<!doctype html>
<html lang="en">
<head>
  <title>%(title)s</title>
</head>
<body>
  <h1>%(title)s</h1><p>%(details)s</p>
</body>
</html>
"""
_PAGES = {
    400: ("Bad Request (400)", ""),
    403: ("403 Forbidden", ""),
    404: ("Not Found", "The requested resource was not found on this server."),
    500: ("Server Error (500)", ""),
}


def _parseparam(s: str):  # django.utils.http._parseparam (Django 4.2)
    while s[:1] == ";":
        s = s[1:]
        end = s.find(";")
        while end > 0 and (s.count('"', 0, end) - s.count('\\"', 0, end)) % 2:
            end = s.find(";", end + 1)
        if end < 0:
            end = len(s)
        f = s[:end]
        yield f.strip()
        s = s[end:]


def parse_header_parameters(line: str) -> tuple[str, dict[str, str]]:
    """``django.utils.http.parse_header_parameters``: the lowercased main value and its parameters."""
    parts = _parseparam(";" + line)
    key = parts.__next__().lower()
    pdict = {}
    for p in parts:
        i = p.find("=")
        if i >= 0:
            has_encoding = False
            name = p[:i].strip().lower()
            if name.endswith("*"):
                name = name[:-1]
                if p.count("'") == 2:
                    has_encoding = True
            value = p[i + 1 :].strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
                value = value.replace("\\\\", "\\").replace('\\"', '"')
            if has_encoding:
                encoding, lang, value = value.split("'")
                value = unquote(value, encoding=encoding)
            pdict[name] = value
    return key, pdict


@dataclass(frozen=True)
class _MediaType:  # rest_framework.utils.mediatypes._MediaType, for the one renderer we have
    main_type: str
    sub_type: str
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> _MediaType:
        full_type, params = parse_header_parameters(text)
        main_type, _, sub_type = full_type.partition("/")
        return cls(main_type, sub_type, params)

    @property
    def precedence(self) -> int:
        if self.main_type == "*":
            return 0
        if self.sub_type == "*":
            return 1
        if not self.params or list(self.params) == ["q"]:
            return 2
        return 3

    def accepts_json(self) -> bool:
        # JSONRenderer.media_type has no parameters, so only the type and subtype take part.
        return self.sub_type in ("*", "json") and self.main_type in ("*", "application")


def negotiate(request: Request) -> int | None:
    """DRF's content negotiation with JSONRenderer alone: the indent asked for, or raise.

    ``?format=`` other than ``json`` is a 404 (``Not found.``), an Accept header JSON does not satisfy a
    406; ``application/json; indent=4`` (or ``*/*; indent=4``) pretty-prints, as DRF does."""
    from .errors import NotAcceptable, NotFound

    fmt = request.query_params.get("format")
    if fmt and fmt != "json":
        raise NotFound()
    header = ",".join(request.headers.getlist("accept")) if "accept" in request.headers else "*/*"
    tokens = [token.strip() for token in header.split(",")]
    by_precedence: list[list[str]] = [[], [], [], []]
    for token in tokens:
        by_precedence[3 - _MediaType.parse(token).precedence].append(token)
    for group in by_precedence:
        for token in group:
            media_type = _MediaType.parse(token)
            if media_type.accepts_json():
                # The accepted type keeps the client's parameters; JSONRenderer reads `indent` from them.
                try:
                    indent = max(min(int(media_type.params["indent"]), 8), 0)
                except (KeyError, ValueError, TypeError):
                    return None
                return indent or None
    raise NotAcceptable()


def render_json(data: Any, indent: int | None = None) -> bytes:
    """DRF's JSONRenderer: compact, UTF-8 (not ASCII-escaped), no NaN, U+2028/U+2029 escaped."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False, separators=separators)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def api_response(
    request: Request, data: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A DRF ``Response`` after ``finalize_response``: JSON without a charset, the view's ``Allow``."""
    all_headers = dict(headers or {})
    allow = getattr(request.state, "allow", None)
    if allow:
        all_headers["Allow"] = allow
    indent = getattr(request.state, "indent", None)
    return Response(render_json(data, indent), status_code, all_headers, media_type=JSON)


def django_error_page(status_code: int) -> Response:
    """Django's built-in non-DEBUG error page (the project overrides none of them)."""
    title, details = _PAGES.get(status_code, _PAGES[500])
    return Response(
        (_ERROR_PAGE % {"title": title, "details": details}).encode(), status_code, media_type=HTML
    )


def escape_uri_path(path: str) -> str:
    """``django.utils.encoding.escape_uri_path``."""
    return quote(path, safe="/:@&+$,-_.!~*'()")


def iri_to_uri(iri: str) -> str:
    """``django.utils.encoding.iri_to_uri``."""
    return quote(iri, safe="/#%[]=:;$&()+,!?*@'~")


def full_path(request: Request, append_slash: bool = False) -> str:
    """``HttpRequest.get_full_path()`` (``get_full_path_with_slash`` with ``append_slash``)."""
    path = request.scope["path"] + ("/" if append_slash else "")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return escape_uri_path(path) + ("?" + iri_to_uri(query) if query else "")


def _is_valid_path(request: Request, path: str) -> bool:
    scope = {**request.scope, "path": path, "method": "GET"}
    return any(
        isinstance(route, Route) and route.matches(scope)[0] != Match.NONE
        for route in request.app.router.routes
    )


def slash_redirect_or_404(request: Request) -> Response:
    """What Django answers for a URL none of its patterns match (non-DEBUG, ``APPEND_SLASH``).

    A path without its trailing slash whose slashed form is one of ours is redirected, whatever the
    method (301, ``Location`` relative, empty HTML body); anything else gets the HTML 404 page. The
    redirect replaces the 404 after XFrameOptionsMiddleware ran, so it has no ``X-Frame-Options``."""
    path = request.scope["path"]
    if not path.endswith("/") and _is_valid_path(request, path + "/"):
        location = full_path(request, append_slash=True)
        if location.startswith("//"):
            location = "/%2F" + location[2:]  # django.utils.http.escape_leading_slashes
        request.state.xframe = False
        return Response(b"", 301, {"Location": location}, media_type=HTML)
    return django_error_page(404)
