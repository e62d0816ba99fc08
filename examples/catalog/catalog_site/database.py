"""``DATABASE_URL`` to Django's ``DATABASES["default"]``.

A small parser rather than a dependency: the URLs this project is given are libpq's,
``postgresql://user:password@host:port/name``, and the unix-socket forms libpq accepts as well,
``postgresql://user@/name?host=/run/postgresql`` or a percent-encoded directory as the host
(``postgresql://user@%2Frun%2Fpostgresql/name``). Any other query parameter (``sslmode``,
``connect_timeout``, ...) is passed to psycopg as an option.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SCHEMES = ("postgres", "postgresql")


def parse_database_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme!r}")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL names no database")
    options = dict(parse_qsl(parts.query))
    # urlsplit lowercases .hostname; a socket directory may have capitals, so take it from netloc.
    netloc_host = parts.netloc.rpartition("@")[2]
    if netloc_host.startswith("["):  # [::1]:5432
        host = netloc_host[1 : netloc_host.index("]")]
    else:
        host = unquote(netloc_host.partition(":")[0])
    host = options.pop("host", host)
    try:
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL has an invalid port: {exc}") from None
    port_option = options.pop("port", None)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port or port_option or ""),
        "OPTIONS": options,
    }
