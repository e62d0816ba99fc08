"""The FastAPI port's configuration: one pydantic-settings class, read from the same environment as Django.

``DATABASE_URL``, ``SECRET_KEY``, ``SECRET_KEY_FALLBACKS``, ``APP_ENV`` and ``ALLOWED_HOSTS`` mean exactly
what they mean in ``legacy_django/settings.py``, so both apps share one database, one signing secret
(sessions, session auth hashes) and one host allow-list; ``FORWARDED_ALLOW_IPS`` what it means to
gunicorn (the peers whose scheme headers count). Nothing else in ``fastapi_app/`` reads
``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["DEV_SECRET_KEY", "LEGACY_ALLOWED_HOSTS", "Settings", "get_settings"]

# The legacy's development default; refused in production by both apps.
DEV_SECRET_KEY = "django-insecure-dev-only-change-me"
# legacy_django.settings.ALLOWED_HOSTS before the ALLOWED_HOSTS environment additions.
LEGACY_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "testserver", "[::1]")


def _comma_list(value: object) -> list[str]:
    # Django's settings split these on commas and drop empty items; do the same.
    if isinstance(value, str):
        return [item for item in value.split(",") if item]
    return list(value or [])  # type: ignore[call-overload]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    DATABASE_URL: str
    SECRET_KEY: str = DEV_SECRET_KEY
    SECRET_KEY_FALLBACKS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    APP_ENV: str = "development"
    ALLOWED_HOSTS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The peers trusted to set the scheme headers: gunicorn's setting (and variable) for the legacy, which
    # the port applies itself (fastapi_app/environ.py).
    FORWARDED_ALLOW_IPS: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    # Pool sizing (see fastapi_app/db.py and fastapi_app/reads.py), per worker process: the ORM's pool +
    # overflow connections for writes, and the read pool of the hot GET paths.
    DB_POOL_SIZE: int = Field(default=5, ge=1)
    DB_MAX_OVERFLOW: int = Field(default=5, ge=0)
    DB_READ_POOL_SIZE: int = Field(default=10, ge=1)
    DB_POOL_TIMEOUT: float = Field(default=10.0, gt=0)
    # FastAPI's built-in OpenTelemetry hooks. Off unless asked for: with no exporter configured they only
    # cost time on every request (see docs/performance.md).
    OTEL_ENABLED: bool = False

    @field_validator("SECRET_KEY_FALLBACKS", "ALLOWED_HOSTS", "FORWARDED_ALLOW_IPS", mode="before")
    @classmethod
    def _split(cls, value: object) -> list[str]:
        return _comma_list(value)

    @field_validator("DATABASE_URL")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        _postgresql(value.strip())
        return value.strip()

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> Settings:
        if self.APP_ENV == "production" and self.SECRET_KEY == DEV_SECRET_KEY:
            raise ValueError("SECRET_KEY must be set in production")
        return self

    @property
    def database(self) -> URL:
        """``DATABASE_URL`` as SQLAlchemy's URL (a socket directory as libpq's ``?host=``, as Django's)."""
        return _postgresql(self.DATABASE_URL)

    def database_url(self, driver: str) -> str:
        """``DATABASE_URL`` for ``postgresql+DRIVER`` (SQLAlchemy), or ``postgresql`` (asyncpg's own)."""
        url = self.database.set(drivername=f"postgresql+{driver}" if driver else "postgresql")
        return url.render_as_string(hide_password=False)

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        """Django's ``ALLOWED_HOSTS`` as the legacy computes it."""
        return LEGACY_ALLOWED_HOSTS + tuple(self.ALLOWED_HOSTS)


def _postgresql(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ValueError(f"DATABASE_URL is not a database URL: {exc}") from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {url.drivername!r}")
    if not url.database:
        raise ValueError("DATABASE_URL names no database")
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()  # type: ignore[call-arg]
