"""The FastAPI pool after Django migrations: no stale prepared statements (fastapi_app/db.py)."""

from __future__ import annotations

import asyncio
import gc

import pytest
from django.db import connection
from sqlalchemy.exc import DBAPIError

from fastapi_app.db import reset_pool
from fastapi_app.main import GC_YOUNG_THRESHOLD, create_app
from tests.modern.conftest import orm

pytestmark = pytest.mark.django_db(transaction=True)

WIDEN = "ALTER TABLE users ALTER COLUMN first_name TYPE varchar(200)"
RESTORE = "ALTER TABLE users ALTER COLUMN first_name TYPE varchar(150)"


def _sql(*statements: str) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.fixture
def widened_column():
    """A change of result type to a column every user query reads (what AlterField(max_length) does)."""
    yield
    _sql(RESTORE, "DELETE FROM django_migrations WHERE name = 'zz_widen_first_name'")


@pytest.fixture
def alice(make_user):
    return make_user(username="alice", email="alice@example.com")


async def test_a_migration_recorded_by_django_retires_pooled_connections(
    modern, alice, auth_header, widened_column
):
    headers = await auth_header(alice)
    assert (await modern.get("/api/users/me/", headers=headers)).status_code == 200  # statements now cached
    # What `manage.py migrate` does: the DDL and its ledger row, in one transaction.
    await orm(
        _sql,
        WIDEN,
        "INSERT INTO django_migrations (app, name, applied) VALUES ('users', 'zz_widen_first_name', now())",
    )
    response = await modern.get("/api/users/me/", headers=headers)
    assert response.status_code == 200 and response.json()["username"] == "alice"


async def test_the_hazard_is_real_and_reset_pool_clears_it(
    modern_app, modern, alice, auth_header, widened_column
):
    # A write loads the user through the ORM's pool (in a transaction, where asyncpg cannot re-prepare).
    headers = await auth_header(alice)
    url, change = f"/api/users/{alice.id}/", {"first_name": "Alice"}
    assert (await modern.patch(url, json=change, headers=headers)).status_code == 200
    await orm(_sql, WIDEN)  # DDL that no migration recorded: invisible to the ledger check
    with pytest.raises(DBAPIError, match="InvalidCachedStatementError|cached statement plan is invalid"):
        await modern.patch(url, json=change, headers=headers)
    await reset_pool(modern_app.state.engine)
    assert (await modern.patch(url, json=change, headers=headers)).status_code == 200


async def test_the_read_pool_reprepares_a_statement_the_ddl_invalidated(
    modern, alice, auth_header, widened_column
):
    """Reads run outside a transaction, where asyncpg re-prepares a stale statement and retries it once."""
    headers = await auth_header(alice)
    url = f"/api/users/{alice.id}/"
    assert (await modern.get(url, headers=headers)).status_code == 200  # both read statements prepared
    await orm(_sql, WIDEN)  # no ledger row, no pool reset
    response = await modern.get(url, headers=headers)
    assert response.status_code == 200 and response.json()["username"] == "alice"


async def test_a_connection_killed_under_the_pool_is_replaced(modern, modern_app, alice, auth_header):
    """What a PostgreSQL restart or an idle timeout does to pooled connections: the next request still works."""
    headers = await auth_header(alice)
    # Several reads at once: the read pool holds several connections (a restart kills them all at once).
    answers = await asyncio.gather(*(modern.get("/api/users/me/", headers=headers) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert modern_app.state.reads.pool.get_size() >= 2
    assert (await modern.patch(f"/api/users/{alice.id}/", json={}, headers=headers)).status_code == 200
    # Both pools now hold connections; kill every one of them (this database's only: other test runs' apps
    # on the same server are not this test's to kill).
    await orm(
        _sql,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'fastapi_app' AND datname = current_database()",
    )
    response = await modern.get("/api/users/me/", headers=headers)  # the read pool
    assert response.status_code == 200 and response.json()["username"] == "alice"
    response = await modern.patch(f"/api/users/{alice.id}/", json={}, headers=headers)  # the ORM's pool
    assert response.status_code == 200 and response.json()["username"] == "alice"


async def test_what_startup_made_is_frozen_while_the_app_runs(modern_settings, transactional_db):
    app = create_app(modern_settings)
    # CPython's default first, whatever an app of an earlier test still running in this process set.
    original = gc.get_threshold()
    gc.set_threshold(700, *original[1:])
    try:
        before = gc.get_freeze_count()
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > before  # out of the collector's sight while serving
            assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() == 0  # and back in it after shutdown
        assert gc.get_threshold()[0] == 700
    finally:
        gc.set_threshold(*original)
