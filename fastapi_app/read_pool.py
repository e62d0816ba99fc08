"""The read pool's connections: asyncpg connections lent for one statement at a time.

Why not ``asyncpg.Pool``: its checkout and return cost more than a one-statement read needs. Every return
runs as a task of its own under ``asyncio.shield`` (a task and two turns of the event loop per read) and
re-arms an idle timer; every checkout makes a proxy object and a future. Here a checkout takes an idle
connection from a list and a return puts it back (or hands it to the oldest waiting read), both without
awaiting: measured in docs/performance.md ("The port, four changes"). What a read needs of a pool is kept:

- at most ``size`` connections, opened when a read finds none idle; a read that finds none idle and the
  pool full waits its turn (first come, first served: a returned connection goes to the oldest waiter,
  never to a newcomer);
- a connection comes back to the pool only in the state it was lent in: one whose read was cancelled
  mid-statement, or left in a transaction, is closed instead (in the background: asyncpg's ``close()``
  first has the server cancel the statement, where dropping the socket would leave it running), one the
  server closed is let go, and its place is freed for a new one;
- a connection idle for ``max_idle`` seconds (300, asyncpg's default) is closed when another one comes
  back: checked as requests end, as Django's ``CONN_MAX_AGE`` is, so a worker that gets no requests at all
  keeps its idle connections;
- :meth:`expire_connections` (what the read's retry calls after the server closed a connection): every
  connection opened before it is closed when next returned or taken, as asyncpg's pool does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType

import asyncpg

__all__ = ["ReadPool"]

CLOSE_TIMEOUT = 10.0  # seconds for a connection's cancellation and goodbye before its socket is dropped
# What a waiter is woken with when a place (not a connection) is free: it opens a connection itself.
_PLACE = None


class ReadPool:
    def __init__(
        self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int, max_idle: float = 300.0
    ) -> None:
        if size < 1:
            raise ValueError("a read pool needs at least one connection")
        self._connect = connect
        self._size = size
        self._max_idle = max_idle
        self._open = 0  # connections lent, idle or being opened
        # Idle connections, the last returned at the end: each with the generation it was opened in and
        # when it came back (the event loop's clock).
        self._idle: list[tuple[asyncpg.Connection, int, float]] = []
        self._waiters: deque[asyncio.Future[tuple[asyncpg.Connection, int] | None]] = deque()
        self._generation = 0
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()  # connections being closed in the background

    def acquire(self) -> _Lent:
        """``async with pool.acquire() as connection``: one connection until the block ends."""
        return _Lent(self)

    def get_size(self) -> int:
        """Connections open (or opening) now, lent or idle."""
        return self._open

    async def expire_connections(self) -> None:
        """Close every connection opened until now when it is next returned or taken."""
        self._generation += 1

    async def close(self) -> None:
        """Close the idle connections; a lent one is closed when it comes back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(asyncpg.InterfaceError("the read pool is closed"))
        self._waiters.clear()
        for connection, _, _ in idle:
            self._drop(connection)
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def _take(self) -> tuple[asyncpg.Connection, int]:
        while True:
            if self._closed:
                raise asyncpg.InterfaceError("the read pool is closed")
            while self._idle:
                connection, generation, _ = self._idle.pop()
                if generation == self._generation and not connection.is_closed():
                    return connection, generation
                self._drop(connection)
            if self._open < self._size:
                self._open += 1
                try:
                    return await self._connect(), self._generation
                except BaseException:
                    self._open -= 1
                    self._wake(_PLACE)
                    raise
            waiter: asyncio.Future[tuple[asyncpg.Connection, int] | None]
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                lent = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # woken, then cancelled: pass it on
                    handed = waiter.result()
                    if handed is _PLACE:
                        self._wake(_PLACE)
                    else:
                        self._give_back(*handed, reusable=True)
                raise
            if lent is not _PLACE:
                return lent

    def _give_back(self, connection: asyncpg.Connection, generation: int, *, reusable: bool) -> None:
        if (
            not reusable
            or self._closed
            or generation != self._generation
            or connection.is_closed()
            or connection.is_in_transaction()
        ):
            self._drop(connection)
            self._wake(_PLACE)
            return
        if self._wake((connection, generation)):
            return
        now = asyncio.get_running_loop().time()
        self._idle.append((connection, generation, now))
        if now - self._idle[0][2] > self._max_idle:  # the longest idle, at the start
            self._drop(self._idle.pop(0)[0])

    def _wake(self, lent: tuple[asyncpg.Connection, int] | None) -> bool:
        """Hand ``lent`` (or a free place) to the oldest waiter still waiting; False if there is none."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(lent)
                return True
        return False

    def _drop(self, connection: asyncpg.Connection) -> None:
        self._open -= 1
        if not connection.is_closed():
            task = asyncio.get_running_loop().create_task(_close(connection))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


async def _close(connection: asyncpg.Connection) -> None:
    try:
        await connection.close(timeout=CLOSE_TIMEOUT)
    except Exception:  # noqa: BLE001 - a connection that cannot say goodbye is dropped all the same
        connection.terminate()


class _Lent:
    __slots__ = ("_pool", "_connection", "_generation")

    def __init__(self, pool: ReadPool) -> None:
        self._pool = pool

    async def __aenter__(self) -> asyncpg.Connection:
        self._connection, self._generation = await self._pool._take()
        return self._connection

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        # A statement interrupted by cancellation leaves asyncpg cancelling it on the server: not reusable.
        reusable = kind is None or not issubclass(kind, asyncio.CancelledError)
        self._pool._give_back(self._connection, self._generation, reusable=reusable)
