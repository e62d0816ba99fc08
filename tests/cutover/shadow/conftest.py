"""A store for each test, on SQLite and on a database of its own on the session's real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cutover.dburl import DatabaseURL, database_url_from_env

# The front door and the Django server of the proxy tests, for the end-to-end shadow tests.
from tests.cutover.proxy.conftest import door_kind, echo_backends, make_front_door  # noqa: F401
from tests.cutover.proxy.test_failover import django_server  # noqa: F401
from tests.examples.catalog_env import scratch_database


@pytest.fixture
def pg_database() -> Iterator[DatabaseURL]:
    """A new, empty database on the session's server (DATABASE_URL), dropped afterwards."""
    server = database_url_from_env()
    assert server is not None, "the cutover pytest plugin sets DATABASE_URL for the session"
    with scratch_database(server, "shadow_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a store that does not exist yet: a SQLite file in a missing directory, or a fresh
    PostgreSQL database named the way a config names it (``postgresql://``, no driver)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'shadow.sqlite3'}"
    return request.getfixturevalue("pg_database").libpq()
