from __future__ import annotations

import pytest

from cutover.dburl import DatabaseURL, InvalidDatabaseURL, database_url_from_env


def test_tcp_url_renders_for_each_driver():
    url = DatabaseURL.parse("postgresql://app:s%40cret@db.internal:5433/users")
    assert (url.user, url.password, url.host, url.port, url.name) == (
        "app",
        "s@cret",
        "db.internal",
        5433,
        "users",
    )
    assert url.libpq() == "postgresql://app:s%40cret@db.internal:5433/users"
    assert url.sqlalchemy_async() == "postgresql+asyncpg://app:s%40cret@db.internal:5433/users"
    assert url.django()["HOST"] == "db.internal" and url.django()["PORT"] == "5433"
    assert "s%40cret" not in url.redacted() and "***" in url.redacted()


def test_unix_socket_in_query_as_libpq_writes_it():
    url = DatabaseURL.parse("postgresql://postgres:@/app?host=/tmp/pg%20dir")
    assert url.is_socket and url.host == "/tmp/pg dir"
    assert url.django()["HOST"] == "/tmp/pg dir"
    assert DatabaseURL.parse(url.sqlalchemy_async()) == url
    assert DatabaseURL.parse(url.libpq()) == url


def test_with_name_switches_database_only():
    url = DatabaseURL.parse("postgres://u@h/one")
    assert url.with_name("two").libpq() == "postgresql://u@h/two"


@pytest.mark.parametrize("raw", ["mysql://u@h/db", "postgresql://u@h", "postgresql://u@h:notaport/db"])
def test_invalid_urls_are_refused_with_a_reason(raw):
    with pytest.raises(InvalidDatabaseURL):
        DatabaseURL.parse(raw)


def test_env_lookup():
    assert database_url_from_env({}) is None
    assert database_url_from_env({"DATABASE_URL": "  "}) is None
    assert database_url_from_env({"DATABASE_URL": "postgresql://u@h/db"}).name == "db"
