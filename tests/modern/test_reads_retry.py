"""The read pool's retry of a read on a connection the server closed, including one lost mid-statement, and
a pool whose every connection the server closed at once (a restart): the retry reconnects. Each case runs
outside a request (a connection per read) and inside one (the request's shared connection)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select

from fastapi_app.reads import Reads, request_scope
from shared_db.models import User


class Released:
    """A pooled connection lost in the middle of a statement: asyncpg's pool has already released its proxy,
    so every call on it, ``terminate()`` included, raises InterfaceError."""

    async def fetchval(self, *args: Any) -> Any:
        raise asyncpg.exceptions.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )

    def terminate(self) -> None:
        raise asyncpg.InterfaceError(
            "cannot call Connection.terminate(): connection has been released back to the pool"
        )


class Fresh:
    async def fetchval(self, *args: Any) -> Any:
        return 42

    def terminate(self) -> None:  # pragma: no cover - a good connection is never dropped
        raise AssertionError("a working connection was terminated")


class ErrorConsumed:
    """A pooled connection whose FATAL message (a restart, pg_terminate_backend) the loop has read but whose
    socket end it has not: it looks open, and asyncpg refuses the next statement on it."""

    terminated = False

    async def fetchval(self, *args: Any) -> Any:
        raise asyncpg.exceptions._base.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )

    def terminate(self) -> None:
        self.terminated = True


class Pool:
    """asyncpg's pool as the retry sees it: pooled connections handed out in turn; once
    ``expire_connections()`` was called, one pooled before is replaced by a new connection when taken."""

    def __init__(self, *connections: Any, new: type = Fresh) -> None:
        self.connections = list(connections)
        self.handed = 0
        self.expired = 0
        self.new = new

    async def expire_connections(self) -> None:
        self.expired = len(self.connections)

    def _take(self) -> Any:
        self.handed += 1
        pooled = self.connections.pop(0)
        if self.expired:
            self.expired -= 1
            pooled = self.new()
        self.out += 1
        return pooled

    async def release(self, connection: Any) -> None:
        self.out -= 1

    def acquire(self) -> Acquire:
        return Acquire(self)

    out = 0  # connections handed out and not released


class Acquire:
    """``pool.acquire()``: awaited (a request's held connection) or entered (a read of its own)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def __await__(self):
        async def take() -> Any:
            return self.pool._take()

        return take().__await__()

    async def __aenter__(self) -> Any:
        self.connection = self.pool._take()
        return self.connection

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.release(self.connection)


@asynccontextmanager
async def _in_request() -> AsyncIterator[None]:
    async with request_scope():
        yield


@pytest.fixture(params=["outside a request", "in a request"])
def scope(request) -> AbstractAsyncContextManager[None]:
    return nullcontext() if request.param == "outside a request" else _in_request()


async def test_a_read_on_a_connection_lost_mid_statement_is_run_again_on_a_new_one(scope):
    pool = Pool(Released(), Fresh())
    async with scope:
        assert await Reads(pool).value(select(User.id), {}) == 42  # type: ignore[arg-type]
    assert pool.handed == 2 and pool.out == 0


async def test_when_every_pooled_connection_died_at_once_the_retry_takes_a_new_one(scope):
    """Without expiring the pool, the retry would take the second dead connection and the read would fail."""
    dead = [ErrorConsumed() for _ in range(3)]
    pool = Pool(*dead)
    async with scope:
        assert await Reads(pool).value(select(User.id), {}) == 42  # type: ignore[arg-type]
        assert await Reads(pool).value(select(User.id), {}) == 42  # type: ignore[arg-type]
    # in a request the second read reuses the new connection; outside, it takes another new one
    assert dead[0].terminated and pool.out == 0
    assert pool.handed == (3 if isinstance(scope, nullcontext) else 2)


async def test_a_server_that_stays_down_is_an_error_not_a_loop(scope):
    pool = Pool(Released(), Released(), new=Released)
    with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
        async with scope:
            await Reads(pool).value(select(User.id), {})  # type: ignore[arg-type]
    assert pool.handed == 2 and pool.out == 0
