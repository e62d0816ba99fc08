"""The request's host and scheme as Django computes them (``USE_X_FORWARDED_HOST``,
``SECURE_PROXY_SSL_HEADER``, ``ALLOWED_HOSTS``), and ``build_absolute_uri()``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.datastructures import Headers
from starlette.requests import Request

from .compat.csrf import get_host, request_is_secure
from .responses import full_path

__all__ = ["absolute_uri", "allowed_host", "is_secure", "server_host"]


def server_host(scope: Mapping[str, object]) -> str:
    """``SERVER_NAME[:SERVER_PORT]`` for a request without any Host header."""
    server = scope.get("server")
    if not server:
        return ""
    host, port = str(server[0]), int(server[1] or 0)  # type: ignore[index]
    default = 443 if scope.get("scheme") == "https" else 80
    return f"{host}:{port}" if port and port != default else host


_HOST_HEADERS = ("x-forwarded-host", "host")
_SCHEME_HEADERS = ("x-forwarded-proto",)


def _read(headers: Headers, names: tuple[str, ...]) -> dict[str, str]:
    """The request's values of ``names`` (``headers`` finds them whatever their case): what Django's rules
    read, handed on instead of a lower-cased copy of every header the request has."""
    return {name: value for name in names if (value := headers.get(name)) is not None}


def allowed_host(headers: Headers, scope: Mapping[str, object], allowed: Sequence[str]) -> str | None:
    """``request.get_host()``, or ``None`` where Django raises ``DisallowedHost`` (a 400)."""
    return get_host(_read(headers, _HOST_HEADERS), allowed, server_host=server_host(scope))


def is_secure(request: Request) -> bool:
    return request_is_secure(_read(request.headers, _SCHEME_HEADERS), request.url.scheme == "https")


def absolute_uri(request: Request) -> str:
    """``request.build_absolute_uri()`` for the current request."""
    host = request.state.host  # validated by the host middleware before any route runs
    scheme = "https" if is_secure(request) else "http"
    return f"{scheme}://{host}{full_path(request)}"
