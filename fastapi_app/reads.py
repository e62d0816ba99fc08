"""The hot read paths (token authentication, a user, a page of users) on an asyncpg pool of their own.

Why not the ORM session: a GET reads two rows. Through ``AsyncSession`` each read crosses into a greenlet,
builds a cache key, opens a transaction (``BEGIN`` … ``ROLLBACK`` around the two ``SELECT``\\ s) and makes
ORM objects, about 2 ms of CPU per request, ten times what the queries cost. Here a read is one prepared
statement, in autocommit as Django runs it, and the row comes back as an asyncpg record that reads like
the ORM object (``user.is_staff``). Writes stay on the ORM (:mod:`fastapi_app.db`).

The statements are the SQLAlchemy Core statements of :mod:`fastapi_app.queries`, compiled once per
statement for the asyncpg dialect (``$n`` parameters, the same SQL the ORM would send).

Pool: ``DB_READ_POOL_SIZE`` connections per worker (10 by default), opened on demand
(:class:`~fastapi_app.read_pool.ReadPool`, not asyncpg's pool: a checkout and a return without a task, a
proxy or a timer, see that module). A read holds its connection for one statement, so the wait for a
free one is bounded by the statements queued ahead of it; there is no separate acquire timeout. A read
never leaves session state behind, so a connection goes back to the pool without a ``RESET ALL`` round
trip (one left in a transaction, which no read starts, would be closed instead). Stale statements after a
Django migration need no pool check here: outside a transaction asyncpg re-prepares a statement whose
result type changed and retries it once. A connection the server closed under the pool (a restart, an
idle timeout) is dropped, the pool's other connections are expired (they reconnect when next taken), and
the read, safe to repeat, runs once more on a new connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from weakref import WeakKeyDictionary

import asyncpg
from sqlalchemy import CompoundSelect, Select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from .read_pool import ReadPool
from .settings import Settings

__all__ = ["ReadAhead", "Reads", "Row", "UserLike", "compiled"]

_DIALECT = asyncpg_dialect()
# What a connection the server closed under the pool raises on its next use.
_DEAD_CONNECTION = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # 57P01: "terminating connection due to administrator…"
    asyncpg.InterfaceError,
    asyncpg.exceptions._base.InternalClientError,  # a FATAL message the idle connection had not read yet
    ConnectionError,
)


class UserLike(Protocol):
    """What the views read of a user, whether an ORM ``User`` or a :class:`Row`."""

    id: int
    password: str
    username: str
    email: str
    first_name: str
    last_name: str
    is_active: bool
    is_staff: bool
    is_superuser: bool
    date_joined: datetime
    last_login: datetime | None


class Row(asyncpg.Record):
    """A record whose columns also read as attributes (``row.is_staff``), like the ORM object's."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class Compiled:
    sql: str
    names: tuple[str, ...]  # bind parameter names in ``$1, $2, …`` order

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


# What the read pool runs: a SELECT, or a UNION of them (queries.token_user_and).
Statement = Select[Any] | CompoundSelect


@dataclass
class ReadAhead:
    """A row a view will read after authentication, asked for in the token lookup's round trip.

    ``statement`` is :func:`~fastapi_app.queries.token_user_and` for the view's lookup and ``params`` the
    lookup's values (the token's ``key`` is added by the lookup). A token lookup that makes the read sets
    ``done`` and ``row`` (None: no such row); authentication by anything else leaves ``done`` False, and the
    view reads the row itself. Reading it early changes nothing the client sees: the row only answers the
    request once authentication and the permission check have passed, as DRF's ``get_object`` after
    ``initial()``."""

    statement: CompoundSelect
    params: dict[str, Any]
    done: bool = False
    row: Row | None = None


# Keyed by the statement object, and only while it lives: queries.py decides which statements are kept.
_COMPILED: WeakKeyDictionary[Statement, Compiled] = WeakKeyDictionary()


def compiled(statement: Statement) -> Compiled:
    """``statement`` as asyncpg runs it, compiled once per statement (queries.py builds one per shape)."""
    try:
        return _COMPILED[statement]
    except KeyError:
        result = statement.compile(dialect=_DIALECT)
        _COMPILED[statement] = out = Compiled(result.string, tuple(result.positiontup or ()))
        return out


_SERVER_SETTINGS = {"application_name": "fastapi_app", "timezone": "UTC"}


class Reads:
    """The read pool of one worker process: each call borrows a connection for one statement."""

    def __init__(self, pool: ReadPool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, settings: Settings) -> Reads:
        url = settings.database_url("")

        def connect() -> Awaitable[asyncpg.Connection]:
            return asyncpg.connect(url, record_class=Row, server_settings=_SERVER_SETTINGS)

        return cls(ReadPool(connect, settings.DB_READ_POOL_SIZE))

    async def close(self) -> None:
        await self.pool.close()

    async def row(self, statement: Statement, params: Mapping[str, Any]) -> Row | None:
        return await self._run("fetchrow", statement, params)  # type: ignore[no-any-return]

    async def rows(self, statement: Statement, params: Mapping[str, Any]) -> list[Row]:
        return await self._run("fetch", statement, params)  # type: ignore[no-any-return]

    async def value(self, statement: Statement, params: Mapping[str, Any]) -> Any:
        return await self._run("fetchval", statement, params)

    async def _run(self, method: str, statement: Statement, params: Mapping[str, Any]) -> Any:
        query = compiled(statement)
        arguments = query.arguments(params)
        for attempt in (1, 2):
            async with self.pool.acquire() as connection:
                try:
                    return await getattr(connection, method)(query.sql, *arguments)
                except _DEAD_CONNECTION:
                    # A pooled connection the server closed (restart, pg_terminate_backend, idle timeout):
                    # drop it and, a read being safe to repeat, run it once more on a new connection.
                    try:
                        connection.terminate()
                    except asyncpg.InterfaceError:
                        pass  # lost in the middle of the statement: the pool has already let go of it
                    if attempt == 2:
                        raise
                    # What closed one closed the others too (a restart kills every backend), and one whose
                    # FATAL message the loop read before the socket's end looks open: without this, the
                    # second attempt could take another of them. Expired, each reconnects when next taken.
                    await self.pool.expire_connections()
        raise AssertionError("unreachable")
