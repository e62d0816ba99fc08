"""The port's settings: the same environment variables the Django settings read, in one object."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL

__all__ = ["Settings", "get_settings"]

# catalog_site/settings.py: the key both apps share in development (it signs the JSON Web Tokens).
DEV_SECRET_KEY = "django-insecure-catalog-dev-key-do-not-use-in-production"
# catalog_site/settings.py ALLOWED_HOSTS, before the ones the environment adds.
BASE_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "testserver")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    DATABASE_URL: str
    SECRET_KEY: str = DEV_SECRET_KEY
    ALLOWED_HOSTS: str = ""  # comma-separated, added to BASE_ALLOWED_HOSTS as Django's settings do
    DJANGO_ENV: str = "development"
    DB_POOL_SIZE: int = 10

    @field_validator("DATABASE_URL")
    @classmethod
    def _postgresql(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("postgres", "postgresql"):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _no_dev_key_in_production(self) -> Settings:
        if self.DJANGO_ENV == "production" and self.SECRET_KEY == DEV_SECRET_KEY:
            raise ValueError("SECRET_KEY must be set in production")
        return self

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return BASE_ALLOWED_HOSTS + tuple(h for h in self.ALLOWED_HOSTS.split(",") if h)

    def sqlalchemy_url(self) -> URL:
        """``DATABASE_URL`` (libpq form, a socket directory as ``?host=`` or as the host) for asyncpg."""
        parts = urlsplit(self.DATABASE_URL)
        query = dict(parse_qsl(parts.query))
        netloc_host = parts.netloc.rpartition("@")[2]
        if netloc_host.startswith("["):
            in_netloc = netloc_host[1 : netloc_host.index("]")]
        else:
            in_netloc = unquote(netloc_host.partition(":")[0])
        host = query.pop("host", in_netloc) or None
        port = parts.port or (int(query.pop("port")) if "port" in query else None)
        # libpq's names for the options asyncpg spells its own way.
        if "sslmode" in query:
            query["ssl"] = query.pop("sslmode")
        if "connect_timeout" in query:
            query["timeout"] = query.pop("connect_timeout")
        # asyncpg takes a socket directory as its host, as libpq does.
        return URL.create(
            "postgresql+asyncpg",
            username=unquote(parts.username or "") or None,
            password=unquote(parts.password or "") or None,
            host=host,
            port=port,
            database=unquote(parts.path.lstrip("/")),
            query=query,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # DATABASE_URL comes from the environment
