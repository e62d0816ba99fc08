"""The read pool's retry of a read on a connection the server closed, including one lost mid-statement."""

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


class Pool:
    def __init__(self, *connections: Any) -> None:
        self.connections = list(connections)
        self.handed = 0

    @asynccontextmanager
    async def acquire(self):
        self.handed += 1
        yield self.connections.pop(0)


async def test_a_read_on_a_connection_lost_mid_statement_is_run_again_on_a_new_one():
    pool = Pool(Released(), Fresh())
    assert await Reads(pool).value(select(User.id), {}) == 42  # type: ignore[arg-type]
    assert pool.handed == 2


async def test_a_second_dead_connection_is_an_error_not_a_loop():
    pool = Pool(Released(), Released())
    with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
        await Reads(pool).value(select(User.id), {})  # type: ignore[arg-type]
