"""The async engine (asyncpg) and per-request sessions.

Pool sizing: each uvicorn worker holds at most ``DB_POOL_SIZE + DB_MAX_OVERFLOW`` connections (5 + 5 by
default). With the stack's defaults (2 uvicorn workers, 2 gunicorn workers x 4 threads with persistent
connections) that is 20 + 8 connections, well under PostgreSQL's default ``max_connections`` of 100; size
``workers x (pool + overflow)`` against your server's limit (and PgBouncer's pool) when you scale out.
``pool_timeout`` bounds how long a request waits for a connection before failing instead of hanging.

Stale statements: asyncpg prepares every statement and SQLAlchemy caches it per connection
(``prepared_statement_cache_size``, 100 by default). Django owns the schema; once a migration changes a
column a cached statement reads, that statement fails on its old connection ("cached plan must not change
result type"). So every checkout compares the ``django_migrations`` ledger with what the connection saw
when it last served a request; after ``migrate`` recorded anything, the connection is discarded (SQLAlchemy
retries the checkout with a fresh one, whose caches are empty). The check is one indexed aggregate per
checkout. DDL run outside Django migrations is not seen: call :func:`reset_pool` (or restart the workers)
after it. Behind PgBouncer in transaction mode, set both statement caches to 0 instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .settings import Settings

__all__ = ["create_engine", "reset_pool", "session_factory", "sessions"]


SCHEMA_VERSION_SQL = "SELECT count(*), coalesce(max(id), 0) FROM django_migrations"


def create_engine(settings: Settings) -> AsyncEngine:
    """An asyncpg engine for ``settings.DATABASE_URL`` with the documented pool."""
    engine = create_async_engine(
        settings.database_url("asyncpg"),
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_MAX_OVERFLOW,
        pool_timeout=settings.DB_POOL_TIMEOUT,
        # No pool_pre_ping: the checkout check below is a round trip already and doubles as the ping.
        connect_args={"server_settings": {"application_name": "fastapi_app", "timezone": "UTC"}},
    )
    event.listen(engine.sync_engine, "checkout", _checkout_check(engine.sync_engine.dialect))
    return engine


def _checkout_check(dialect: Dialect) -> Callable[[Any, Any, Any], None]:
    def check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # Runs inside SQLAlchemy's greenlet: the adapted asyncpg cursor awaits without blocking the loop.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(SCHEMA_VERSION_SQL)
            version = tuple(cursor.fetchone())
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, cursor):
                # A connection killed by a server restart is replaced instead of failing one request.
                raise exc.DisconnectionError("the pooled connection is gone") from error
            raise
        finally:
            cursor.close()
        seen = record.info.setdefault("schema_version", version)
        if seen != version:
            # Prepared statements on this connection may predate the migration: use a new connection.
            raise exc.DisconnectionError("Django migrations ran since this connection was opened")

    return check


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: responses are rendered from objects after their transaction committed.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def reset_pool(engine: AsyncEngine) -> None:
    """Close every pooled connection (and its prepared-statement cache); call after DDL on a live app."""
    await engine.dispose()


async def sessions(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session per request; whatever it did not commit is rolled back when the request ends."""
    async with factory() as session:
        yield session
