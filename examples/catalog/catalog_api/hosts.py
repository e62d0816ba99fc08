"""The request's host and scheme as Django sees them behind the front door.

``catalog_site.settings`` has ``USE_X_FORWARDED_HOST`` (``X-Forwarded-Host`` wins over ``Host``),
``SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")`` and ``ALLOWED_HOSTS``: a host outside
it is Django's 400 page (``DisallowedHost``), raised by CommonMiddleware before any view runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.requests import Request

from .rendering import escape_uri_path, iri_to_uri

__all__ = ["absolute_uri", "host_of", "scheme_of", "validate_host"]

# django.http.request.host_validation_re
_HOST_RE = re.compile(r"^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9\.:]+\])(:[0-9]+)?$")
# gunicorn's secure_scheme_headers, trusted from its forwarded_allow_ips (127.0.0.1, ::1).
_GUNICORN_SECURE = {"x-forwarded-protocol": "ssl", "x-forwarded-ssl": "on"}
_TRUSTED_PEERS = ("127.0.0.1", "::1")


def _header(request: Request, name: str) -> str | None:
    # gunicorn joins a repeated header with "," into one WSGI variable.
    values = request.headers.getlist(name)
    return ",".join(values) if values else None


def host_of(request: Request) -> str:
    """``HttpRequest._get_raw_host()``."""
    forwarded = _header(request, "x-forwarded-host")
    if forwarded is not None:
        return forwarded
    host = _header(request, "host")
    if host is not None:
        return host
    server = request.scope.get("server") or ("", 80)
    return f"{server[0]}:{server[1]}" if server[1] != 80 else str(server[0])


def _split_domain_port(host: str) -> tuple[str, str]:
    """``django.http.request.split_domain_port``."""
    host = host.lower()
    if not _HOST_RE.match(host):
        return "", ""
    if host[-1] == "]":
        return host, ""
    bits = host.rsplit(":", 1)
    domain, port = bits if len(bits) == 2 else (bits[0], "")
    domain = domain[:-1] if domain.endswith(".") else domain
    return domain, port


def _is_same_domain(host: str, pattern: str) -> bool:
    if not pattern:
        return False
    pattern = pattern.lower()
    return pattern[0] == "." and (host.endswith(pattern) or host == pattern[1:]) or pattern == host


def validate_host(host: str, allowed_hosts: Sequence[str]) -> bool:
    """Whether ``HttpRequest.get_host()`` accepts ``host`` (else Django raises DisallowedHost)."""
    domain, _port = _split_domain_port(host)
    return bool(domain) and any(p == "*" or _is_same_domain(domain, p) for p in allowed_hosts)


def scheme_of(request: Request) -> str:
    """``HttpRequest.scheme``: SECURE_PROXY_SSL_HEADER if sent, else what gunicorn made of the request."""
    proto = _header(request, "x-forwarded-proto")
    if proto is not None:
        return "https" if proto.split(",", 1)[0].strip() == "https" else "http"
    client = request.scope.get("client")
    if client and client[0] in _TRUSTED_PEERS:
        for name, secure in _GUNICORN_SECURE.items():
            value = _header(request, name)
            if value is not None and value.lower() == secure:
                return "https"
    return "http"


def absolute_uri(request: Request) -> str:
    """``request.build_absolute_uri()`` for the request's own URL."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    location = escape_uri_path(request.scope["path"]) + ("?" + iri_to_uri(query) if query else "")
    return iri_to_uri(f"{scheme_of(request)}://{host_of(request)}{location}")
