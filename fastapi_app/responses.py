"""Responses rendered as the legacy renders them: DRF's JSONRenderer, Django's redirect and error pages."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

__all__ = [
    "api_response",
    "django_error_page",
    "escape_uri_path",
    "iri_to_uri",
    "render_json",
    "slash_redirect_or_404",
]

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
HTML = "text/html; charset=utf-8"


def render_json(data: Any, indent: int | None = None) -> bytes:
    """DRF's JSONRenderer: compact, UTF-8 (not ASCII-escaped), no NaN, U+2028/U+2029 escaped."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False, separators=separators)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def api_response(
    request: Request, data: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A DRF ``Response`` after ``finalize_response``: JSON (no charset), the view's ``Allow`` header.

    ``data=None`` renders an empty body without ``Content-Type``, as DRF does for 204.
    """
    negotiated = getattr(request.state, "negotiated", None)
    indent = negotiated.indent if negotiated is not None else None
    all_headers = dict(headers or {})
    allow = getattr(request.state, "allow", None)
    if allow:
        all_headers["Allow"] = allow
    if data is None:
        return Response(b"", status_code=status_code, headers=all_headers)
    return Response(render_json(data, indent), status_code, all_headers, media_type="application/json")


def django_error_page(request: Request, status_code: int) -> Response:
    """Django's built-in non-DEBUG error page (no templates of the project override them)."""
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


def full_path(request: Request, force_append_slash: bool = False) -> str:
    """``HttpRequest.get_full_path()``: escaped path, then the raw query string."""
    path = request.scope.get("root_path", "") + request.scope["path"]
    query = request.scope.get("query_string", b"").decode("latin-1")
    slash = "/" if force_append_slash and not path.endswith("/") else ""
    return escape_uri_path(path) + slash + ("?" + iri_to_uri(query) if query else "")


def _path_matches(request: Request, path: str) -> bool:
    # Every URL the app serves has a plain catch-all-methods Route (routes.method_fallback).
    scope = {**request.scope, "path": path, "method": "GET"}
    return any(
        isinstance(route, Route) and route.matches(scope)[0] != Match.NONE
        for route in request.app.router.routes
    )


def slash_redirect_or_404(request: Request) -> Response:
    """Django's answer to a URL no pattern matches (``CommonMiddleware`` with ``APPEND_SLASH``, non-DEBUG).

    Any method is redirected (301, relative ``Location``, empty HTML body) when the path lacks its trailing
    slash and the slashed path matches a route; Django raises only under DEBUG for POST/PUT/PATCH. Else the
    HTML 404 page.
    """
    path = request.scope["path"]
    if not path.endswith("/") and _path_matches(request, path + "/"):
        location = full_path(request, force_append_slash=True)
        if location.startswith("//"):
            location = "/%2F" + location[2:]  # django.utils.http.escape_leading_slashes
        request.state.xframe = False  # set by CommonMiddleware after XFrameOptionsMiddleware ran
        return Response(b"", 301, {"Location": location}, media_type=HTML)
    return django_error_page(request, 404)
