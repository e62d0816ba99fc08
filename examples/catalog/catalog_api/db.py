"""The engine and sessions: asyncpg through SQLAlchemy's asyncio extension, one pool per worker."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .settings import Settings

__all__ = ["create_engine", "session_factory"]


def create_engine(settings: Settings) -> AsyncEngine:
    # pre_ping: a connection the database dropped (a restart, a failover) is replaced, not handed out.
    return create_async_engine(
        settings.sqlalchemy_url(), pool_size=settings.DB_POOL_SIZE, max_overflow=0, pool_pre_ping=True
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: a created product is rendered after the commit without reloading it.
    return async_sessionmaker(engine, expire_on_commit=False)
