"""fastapi_app.settings: the same variables as Django, and the production guard."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from fastapi_app.settings import DEV_SECRET_KEY, Settings

URL = "postgresql://app@localhost/app"


def test_reads_djangos_variables(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", URL)
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", "old1,,old2")
    monkeypatch.setenv("ALLOWED_HOSTS", "api.example.com")
    settings = Settings()
    assert settings.database.database == "app"
    assert settings.SECRET_KEY_FALLBACKS == ["old1", "old2"]
    assert settings.allowed_hosts == ("127.0.0.1", "localhost", "testserver", "[::1]", "api.example.com")


def test_development_default_secret():
    assert Settings(DATABASE_URL=URL).SECRET_KEY == DEV_SECRET_KEY


def test_production_refuses_the_development_secret():
    with pytest.raises(ValidationError, match="SECRET_KEY must be set in production"):
        Settings(DATABASE_URL=URL, APP_ENV="production")
    assert Settings(DATABASE_URL=URL, APP_ENV="production", SECRET_KEY="real").APP_ENV == "production"


@pytest.mark.parametrize(
    "bad", ["mysql://x@y/z", "postgresql://x@y/", "not a url", "postgresql://x@y:port/z"]
)
def test_database_url_is_validated(bad):
    with pytest.raises(ValidationError):
        Settings(DATABASE_URL=bad)


def test_database_url_is_required(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError):
        Settings()


def test_the_app_refuses_to_start_in_production_with_the_dev_secret():
    import os
    import subprocess
    import sys

    env = {**os.environ, "APP_ENV": "production", "DATABASE_URL": URL}
    env.pop("SECRET_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-c", "import fastapi_app.main as m; m.app"], env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "SECRET_KEY must be set in production" in proc.stderr


@pytest.mark.parametrize(
    "url, asyncpg_args",
    [
        (
            "postgresql://u:p%40ss@db.internal:6432/app",
            {"host": "db.internal", "port": 6432, "password": "p@ss"},
        ),
        ("postgresql://postgres@/app?host=/tmp/pg%20sock&port=5433", {"host": "/tmp/pg sock", "port": 5433}),
        ("postgres://postgres@/app?host=/run/postgresql", {"host": "/run/postgresql"}),
    ],
)
def test_the_database_url_reaches_asyncpg_as_libpq_reads_it(url, asyncpg_args):
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    settings = Settings(DATABASE_URL=url)
    _, kwargs = dialect().create_connect_args(make_url(settings.database_url("asyncpg")))
    assert kwargs["database"] == "app" and asyncpg_args.items() <= kwargs.items()
    assert settings.database_url("").startswith("postgresql://")
