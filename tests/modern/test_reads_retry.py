"""The read pool's retry of a read on a connection the server closed, including one lost mid-statement, and
a pool whose every connection the server closed at once (a restart): the retry reconnects."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select

from fastapi_app.reads import Reads
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

    @asynccontextmanager
    async def acquire(self):
        self.handed += 1
        pooled = self.connections.pop(0)
        if self.expired:
            self.expired -= 1
            pooled = self.new()
        yield pooled


async def test_a_read_on_a_connection_lost_mid_statement_is_run_again_on_a_new_one():
    pool = Pool(Released(), Fresh())
    assert await Reads(pool).value(select(User.id), {}) == 42  # type: ignore[arg-type]
    assert pool.handed == 2


async def test_when_every_pooled_connection_died_at_once_the_retry_takes_a_new_one():
    """Without expiring the pool, the retry would take the second dead connection and the read would fail."""
    dead = [ErrorConsumed() for _ in range(3)]
    pool = Pool(*dead)
    assert await Reads(pool).value(select(User.id), {}) == 42  # type: ignore[arg-type]
    assert pool.handed == 2 and dead[0].terminated


async def test_a_server_that_stays_down_is_an_error_not_a_loop():
    pool = Pool(Released(), Released(), new=Released)
    with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
        await Reads(pool).value(select(User.id), {})  # type: ignore[arg-type]
    assert pool.handed == 2
