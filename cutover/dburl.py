"""The database URL, in one place, rendered for Django (psycopg) and for SQLAlchemy (asyncpg).

`DATABASE_URL` has the form ``postgresql://user:pass@host:port/dbname``; a unix-socket directory may be
given either as the host (percent-encoded) or as ``?host=/path`` (libpq's convention, which is what the
embedded server hands out).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, quote, unquote, urlsplit

__all__ = ["DatabaseURL", "InvalidDatabaseURL", "database_url_from_env"]

ENV_VAR = "DATABASE_URL"


class InvalidDatabaseURL(ValueError):
    pass


@dataclass(frozen=True)
class DatabaseURL:
    user: str
    password: str
    host: str  # a hostname, or an absolute directory for a unix socket
    port: int | None
    name: str

    @classmethod
    def parse(cls, url: str) -> DatabaseURL:
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"):
            raise InvalidDatabaseURL(f"{ENV_VAR} must be a postgresql:// URL, got scheme {parts.scheme!r}")
        query = dict(parse_qsl(parts.query))
        host = unquote(parts.hostname or "") if parts.hostname else ""
        if "host" in query:
            host = query["host"]
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise InvalidDatabaseURL(f"{ENV_VAR} names no database: {url!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise InvalidDatabaseURL(f"{ENV_VAR} has an invalid port: {url!r}") from exc
        return cls(
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=host or "localhost",
            port=port,
            name=name,
        )

    @property
    def is_socket(self) -> bool:
        return self.host.startswith("/")

    def with_name(self, name: str) -> DatabaseURL:
        return replace(self, name=name)

    def _render(self, scheme: str) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if auth:
            auth += "@"
        port = f":{self.port}" if self.port else ""
        if self.is_socket:
            return f"{scheme}://{auth}/{quote(self.name, safe='')}?host={quote(self.host)}" + (
                f"&port={self.port}" if self.port else ""
            )
        return f"{scheme}://{auth}{self.host}{port}/{quote(self.name, safe='')}"

    def libpq(self) -> str:
        """The URL as libpq and psql accept it."""
        return self._render("postgresql")

    def sqlalchemy_async(self) -> str:
        """The URL for SQLAlchemy's asyncpg dialect."""
        return self._render("postgresql+asyncpg")

    def sqlalchemy_sync(self) -> str:
        """The URL for SQLAlchemy's psycopg 3 dialect (the synchronous side: drift check, fixtures)."""
        return self._render("postgresql+psycopg")

    def django(self) -> dict[str, object]:
        """Django's ``DATABASES['default']`` for psycopg 3."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.name,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": str(self.port or ""),
        }

    def redacted(self) -> str:
        return (
            self.libpq().replace(":" + quote(self.password, safe="") + "@", ":***@")
            if self.password
            else self.libpq()
        )


def database_url_from_env(environ: dict[str, str] | None = None) -> DatabaseURL | None:
    """The configured database, or None when the embedded server should be used."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV_VAR, "").strip()
    return DatabaseURL.parse(raw) if raw else None
