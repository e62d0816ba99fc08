"""A delaying TCP relay: the database made far, in user space, for the IO-bound scenarios.

``python -m cutover.bench.relay --upstream unix:/run/pg/.s.PGSQL.5432 --rtt-ms 5`` listens on a loopback
port and forwards every connection to the upstream, holding each chunk for half the round trip in each
direction. A query's round trip through it therefore takes at least ``rtt`` more, as it would to a
database in another zone; the apps' drivers see a slow network, not a sleep in their code.

Each chunk is scheduled at its *arrival* plus the delay, not after the previous chunk's delay: chunks in
flight overlap (throughput is not capped at one chunk per delay), and each direction of a connection is
one queue in arrival order, so the byte stream is delivered intact and in order. This is what a kernel's
``netem delay`` does, which kernels without ``CONFIG_NET_SCH_NETEM`` cannot (docs/performance.md). It runs
in a process of its own, whose CPU the benchmark reports apart.

Its event loop is asyncio's on ``select()``, not uvloop: a relay is all timers, and their precision is the
delay's. libuv keeps time in whole milliseconds and rounds a timer's delay to them (a 0.5 ms hold could
fire at once), and epoll's timeout is in milliseconds too (rounded up: +0.5 ms per hop on average, a 1 ms
round trip measured as 2); ``select()`` waits in microseconds. With the process's timer slack cut to 1 µs
a chunk leaves a few tens of microseconds after its time, never before it. ``select()`` watches at most
1,024 descriptors: 500 relayed connections, far more than the pools the benchmark sizes.

Prints ``listening HOST:PORT`` once it accepts connections; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import selectors
import signal
import socket
import sys
from collections import deque
from typing import Any, Final

__all__ = ["READY", "main", "parse_upstream", "serve"]

READY: Final = "listening "

_EOF: Final = b""  # queued after a side's last data: half-close the other side once it is delivered
_CLOSE: Final = None  # queued when a side is gone: close the other side once everything is delivered


class _Side(asyncio.Protocol):
    """One end of a relayed connection; what it reads goes, delayed, to its peer."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self._queue: deque[tuple[float, bytes | None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._push(data)

    def eof_received(self) -> bool:
        self._push(_EOF)
        return True  # keep the other direction open until the peer is done

    def connection_lost(self, exc: Exception | None) -> None:
        self._push(_CLOSE)

    # The peer's writes fill its socket buffer: stop reading this side until it drains.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()

    def _push(self, item: bytes | None) -> None:
        if self.delay <= 0 and not self._queue:
            self._deliver(item)
            return
        deadline = self._loop.time() + self.delay
        self._queue.append((deadline, item))
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._flush)

    def _flush(self) -> None:
        self._timer = None
        now = self._loop.time()
        while self._queue and self._queue[0][0] <= now:
            self._deliver(self._queue.popleft()[1])
        if self._queue:
            self._timer = self._loop.call_at(self._queue[0][0], self._flush)

    def _deliver(self, item: bytes | None) -> None:
        out = self.peer.transport if self.peer is not None else None
        if out is None or out.is_closing():
            return
        if item is _CLOSE:
            out.close()  # after what is buffered: asyncio's close() flushes first
        elif item == _EOF:
            if out.can_write_eof():
                out.write_eof()
            else:
                out.close()
        else:
            out.write(item)


def parse_upstream(raw: str) -> tuple[str, str | tuple[str, int]]:
    """``unix:/path/to/socket`` or ``tcp:host:port`` as (kind, address)."""
    kind, _, rest = raw.partition(":")
    if kind == "unix" and rest.startswith("/"):
        return "unix", rest
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            return "tcp", (host.strip("[]"), int(port))
    raise ValueError(f"upstream must be unix:/path or tcp:host:port, got {raw!r}")


async def serve(
    upstream: str,
    rtt_ms: float,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: asyncio.Future[int] | None = None,
) -> None:
    """Relay connections on ``host:port`` to ``upstream``, ``rtt_ms / 2`` each way, until cancelled."""
    kind, address = parse_upstream(upstream)
    one_way = rtt_ms / 2000.0
    loop = asyncio.get_running_loop()

    async def connect_upstream(client: _Side) -> None:
        assert client.transport is not None
        server_side = _Side(one_way)
        server_side.peer, client.peer = client, server_side
        try:
            if kind == "unix":
                assert isinstance(address, str)
                await loop.create_unix_connection(lambda: server_side, address)
            else:
                assert isinstance(address, tuple)
                await loop.create_connection(lambda: server_side, *address)
        except OSError:
            client.transport.close()
            return
        client.transport.resume_reading()

    class Client(_Side):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            assert self.transport is not None
            # Nothing is read before the upstream connection exists to take it.
            self.transport.pause_reading()
            sock = self.transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(connect_upstream(self))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)

    _tasks: set[asyncio.Task[None]] = set()
    server = await loop.create_server(lambda: Client(one_way), host, port, backlog=1024)
    bound = int(server.sockets[0].getsockname()[1])
    if ready is not None:
        ready.set_result(bound)
    async with server:
        await server.serve_forever()


def _fine_timer_slack(nanoseconds: int = 1000) -> None:
    # Linux lets a sleeping process's timers fire up to 50 µs late by default, to batch wake-ups.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(29, nanoseconds, 0, 0, 0)  # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cutover.bench.relay", description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="unix:/path/to/socket or tcp:host:port")
    parser.add_argument("--rtt-ms", type=float, required=True, help="added round-trip time, milliseconds")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    args = parser.parse_args(argv)
    try:
        parse_upstream(args.upstream)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    _fine_timer_slack()
    runner = asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selectors.SelectSelector()))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[int] = loop.create_future()
        task = loop.create_task(serve(args.upstream, args.rtt_ms, args.host, args.port, ready))
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        first: list[asyncio.Future[Any]] = [task, ready]
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and not ready.cancelled():
            print(f"{READY}{args.host}:{ready.result()}", flush=True)
        try:
            await task
        except asyncio.CancelledError:
            pass

    try:
        with runner:
            runner.run(run())
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
