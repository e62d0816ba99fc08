"""fastapi_app.read_pool.ReadPool on real PostgreSQL connections: its size, the order in which waiting reads
get a connection, and what it does with a connection that is not as it was lent."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from fastapi_app.read_pool import ReadPool

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def connect(modern_settings):
    url = modern_settings.database_url("")
    opened: list[asyncpg.Connection] = []

    async def open_one() -> asyncpg.Connection:
        connection = await asyncpg.connect(url)
        opened.append(connection)
        return connection

    yield open_one
    await asyncio.gather(*(c.close(timeout=10) for c in opened if not c.is_closed()), return_exceptions=True)


async def _pid(pool: ReadPool) -> int:
    async with pool.acquire() as connection:
        return await connection.fetchval("SELECT pg_backend_pid()")


async def test_never_more_connections_than_its_size(connect):
    pool = ReadPool(connect, 2)
    most = 0

    async def read() -> int:
        nonlocal most
        async with pool.acquire() as connection:
            most = max(most, pool.get_size())
            await connection.execute("SELECT pg_sleep(0.02)")
            return await connection.fetchval("SELECT pg_backend_pid()")

    pids = await asyncio.wait_for(asyncio.gather(*(read() for _ in range(10))), 10)
    assert most == 2 and len(set(pids)) == 2 and pool.get_size() == 2
    await pool.close()


async def test_a_returned_connection_goes_to_the_oldest_waiter_not_a_newcomer(connect):
    pool = ReadPool(connect, 1)
    order: list[str] = []
    held = pool.acquire()
    await held.__aenter__()

    async def read(name: str) -> None:
        async with pool.acquire():
            order.append(name)
            await asyncio.sleep(0)

    first = asyncio.create_task(read("first"))
    second = asyncio.create_task(read("second"))
    await asyncio.sleep(0.01)  # both waiting
    await held.__aexit__(None, None, None)
    newcomer = asyncio.create_task(read("newcomer"))  # arrives after the return, before the waiters run
    await asyncio.wait_for(asyncio.gather(first, second, newcomer), 10)
    assert order == ["first", "second", "newcomer"]
    assert pool.get_size() == 1
    await pool.close()


async def test_a_read_cancelled_mid_statement_gives_its_place_to_a_new_connection(connect):
    pool = ReadPool(connect, 1)
    before = await _pid(pool)
    started = asyncio.Event()

    async def slow() -> None:
        async with pool.acquire() as connection:
            started.set()
            await connection.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The cancelled connection is not lent again (asyncpg may still be cancelling its statement on it).
    after = await asyncio.wait_for(_pid(pool), 10)
    assert after != before and pool.get_size() == 1
    await pool.close()
    # Closed, not dropped: the server was told to cancel the statement (a dropped socket would leave the
    # backend sleeping out its 30 s).
    probe = await connect()
    running = await probe.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", before
    )
    assert running == 0


async def test_expired_connections_are_replaced_when_next_taken(connect):
    pool = ReadPool(connect, 1)
    before = await _pid(pool)
    assert await _pid(pool) == before  # reused
    await pool.expire_connections()
    assert await _pid(pool) != before and pool.get_size() == 1
    await pool.close()


async def test_a_connection_left_in_a_transaction_or_closed_is_not_lent_again(connect):
    pool = ReadPool(connect, 1)
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")
        in_transaction = await connection.fetchval("SELECT pg_backend_pid()")
    async with pool.acquire() as connection:
        assert not connection.is_in_transaction()
        closed = await connection.fetchval("SELECT pg_backend_pid()")
        assert closed != in_transaction
        connection.terminate()
    assert await _pid(pool) not in (in_transaction, closed) and pool.get_size() == 1
    await pool.close()


async def test_a_failed_connect_frees_its_place_for_a_waiting_read(connect):
    attempts = 0

    async def flaky() -> asyncpg.Connection:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await asyncio.sleep(0.05)
            raise OSError("connection refused")
        return await connect()

    pool = ReadPool(flaky, 1)
    failing = asyncio.create_task(_pid(pool))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(_pid(pool))  # the pool is full (one connection opening): it waits
    with pytest.raises(OSError):
        await failing
    assert isinstance(await asyncio.wait_for(waiting, 10), int)
    assert attempts == 2 and pool.get_size() == 1
    await pool.close()


async def test_a_waiter_cancelled_after_being_handed_a_connection_passes_it_on(connect):
    pool = ReadPool(connect, 1)
    held = pool.acquire()
    await held.__aenter__()
    cancelled = asyncio.create_task(_pid(pool))
    next_in_line = asyncio.create_task(_pid(pool))
    await asyncio.sleep(0.01)
    await held.__aexit__(None, None, None)  # handed to the first waiter...
    cancelled.cancel()  # ...which is cancelled before it runs
    assert isinstance(await asyncio.wait_for(next_in_line, 10), int)
    assert pool.get_size() == 1
    await pool.close()


async def test_close_closes_idle_connections_and_refuses_new_reads(connect):
    pool = ReadPool(connect, 2)
    lent = pool.acquire()
    connection = await lent.__aenter__()
    idle_pid = await _pid(pool)
    assert pool.get_size() == 2
    await pool.close()
    assert pool.get_size() == 1  # the idle one is closed
    with pytest.raises(asyncpg.InterfaceError):
        await _pid(pool)
    await lent.__aexit__(None, None, None)  # the lent one is closed when it comes back
    await pool.close()  # (waiting for the connections being closed)
    assert connection.is_closed() and pool.get_size() == 0 and idle_pid


async def test_a_connection_idle_too_long_is_closed_when_another_comes_back(connect):
    pool = ReadPool(connect, 2, max_idle=0.05)
    held = pool.acquire()
    await held.__aenter__()
    await _pid(pool)  # a second connection, now idle
    assert pool.get_size() == 2
    await asyncio.sleep(0.1)
    await held.__aexit__(None, None, None)  # returned: the other has been idle too long
    assert pool.get_size() == 1
    assert await _pid(pool) and pool.get_size() == 1
    await pool.close()
