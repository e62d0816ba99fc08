"""The async engine (asyncpg) and per-request sessions.

Pool sizing: each uvicorn worker holds at most ``DB_POOL_SIZE + DB_MAX_OVERFLOW`` connections (5 + 5 by
default). With the stack's defaults (2 uvicorn workers, 2 gunicorn workers x 4 threads with persistent
connections) that is 20 + 8 connections, well under PostgreSQL's default ``max_connections`` of 100; size
``workers x (pool + overflow)`` against your server's limit (and PgBouncer's pool) when you scale out.
``pool_timeout`` bounds how long a request waits for a connection before failing instead of hanging.

Stale statements: asyncpg prepares every statement and caches it per connection (SQLAlchemy's
``prepared_statement_cache_size``, 100 by default). Django owns the schema; after its migrations change a
table, a cached statement on an old connection fails with ``InvalidCachedStatementError`` ("cached plan
must not change result type"). Connections therefore never outlive a migration: the app disposes the pool
when it starts (``cutover up`` migrates before starting the servers, and a deploy restarts the workers after
``migrate``), and :func:`reset_pool` drops every pooled connection for a migration run while the app is live.
Behind PgBouncer in transaction mode, set the cache sizes to 0 instead (names are per server connection).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .settings import Settings

__all__ = ["create_engine", "reset_pool", "session_factory", "sessions"]


def create_engine(settings: Settings) -> AsyncEngine:
    """An asyncpg engine for ``settings.DATABASE_URL`` with the documented pool."""
    return create_async_engine(
        settings.database.sqlalchemy_async(),
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_MAX_OVERFLOW,
        pool_timeout=settings.DB_POOL_TIMEOUT,
        # A connection killed by a server restart is replaced instead of failing one request.
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": "fastapi_app", "timezone": "UTC"}},
    )


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
