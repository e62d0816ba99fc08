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

A relay is all timers, and their precision is the delay's. An event loop's own timers are too coarse:
libuv (uvloop) keeps time in whole milliseconds and rounds a timer's delay to them (a 0.5 ms hold could
fire at once), and epoll's timeout is in milliseconds too (rounded up: +0.5 ms per hop on average, a 1 ms
round trip measured as 2). So the chunks wait in one queue (all are held alike, so arrival order is
deadline order) behind one Linux timerfd armed at the head's deadline in nanoseconds, which the loop
(uvloop, for cheap sockets) watches like any descriptor; with the process's timer slack cut to 1 µs a
chunk leaves a few microseconds after its time, never before it. Without timerfd (not Linux) the relay
runs asyncio on ``select()``, whose timeout is in microseconds, at more CPU per chunk.

Prints ``listening HOST:PORT`` once it accepts connections; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import selectors
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, cast

__all__ = ["READY", "main", "parse_upstream", "serve"]

READY: Final = "listening "

_EOF: Final = b""  # queued after a side's last data: half-close the other side once it is delivered
_CLOSE: Final = None  # queued when a side is gone: close the other side once everything is delivered


class _Timerfd:
    """A Linux timerfd on CLOCK_MONOTONIC (``time.monotonic_ns``'s clock), armed at absolute nanoseconds:
    the event loop wakes on its descriptor exactly when the next chunk is due."""

    _CLOCK_MONOTONIC, _TFD_TIMER_ABSTIME = 1, 1
    _TFD_NONBLOCK, _TFD_CLOEXEC = 0o4000, 0o2000000

    class _Spec(ctypes.Structure):
        _fields_ = [(name, ctypes.c_long) for name in ("i_sec", "i_nsec", "v_sec", "v_nsec")]

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        fd = self._libc.timerfd_create(self._CLOCK_MONOTONIC, self._TFD_NONBLOCK | self._TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create")
        self.fd = int(fd)
        self._spec = self._Spec()

    def arm(self, deadline_ns: int) -> None:
        self._spec.v_sec, self._spec.v_nsec = divmod(max(deadline_ns, 1), 1_000_000_000)
        self._libc.timerfd_settime(self.fd, self._TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None)

    def clear(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass


class _Schedule:
    """Every chunk in flight, in one queue: all are held for the same delay, so arrival order is deadline
    order, and one timer (at the head's deadline) serves every connection in both directions."""

    def __init__(self, delay: float) -> None:
        self.delay_ns = round(delay * 1e9)
        self._queue: deque[tuple[int, _Side, bytes | None]] = deque()
        self._loop = asyncio.get_running_loop()
        self._timerfd: _Timerfd | None = None
        self._handle: asyncio.TimerHandle | None = None
        try:
            self._timerfd = _Timerfd()
        except (OSError, AttributeError):  # not Linux: the loop's own timers (select()'s microseconds)
            pass
        else:
            self._loop.add_reader(self._timerfd.fd, self._on_timerfd)

    def push(self, side: _Side, item: bytes | None) -> None:
        if self.delay_ns <= 0 and not self._queue:
            side.deliver(item)
            return
        deadline = time.monotonic_ns() + self.delay_ns
        self._queue.append((deadline, side, item))
        if len(self._queue) == 1:
            self._arm(deadline)

    def _arm(self, deadline_ns: int) -> None:
        if self._timerfd is not None:
            self._timerfd.arm(deadline_ns)
        else:
            when = self._loop.time() + (deadline_ns - time.monotonic_ns()) / 1e9
            self._handle = self._loop.call_at(when, self._flush)

    def _on_timerfd(self) -> None:
        assert self._timerfd is not None
        self._timerfd.clear()
        self._flush()

    def _flush(self) -> None:
        now = time.monotonic_ns()
        queue = self._queue
        while queue and queue[0][0] <= now:
            _, side, item = queue.popleft()
            side.deliver(item)
        if queue:
            self._arm(queue[0][0])


class _Side(asyncio.Protocol):
    """One end of a relayed connection; what it reads goes, delayed, to its peer."""

    def __init__(self, schedule: _Schedule) -> None:
        self.schedule = schedule
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self._early: list[bytes | None] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        early, self._early = self._early, []
        for item in early:
            self.send(item)

    def data_received(self, data: bytes) -> None:
        self.schedule.push(self, data)

    def eof_received(self) -> bool:
        self.schedule.push(self, _EOF)
        return True  # keep the other direction open until the peer is done

    def connection_lost(self, exc: Exception | None) -> None:
        self.schedule.push(self, _CLOSE)

    # The peer's writes fill its socket buffer: stop reading this side until it drains.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()

    def deliver(self, item: bytes | None) -> None:
        """Hand what this side read (now due) to the peer."""
        if self.peer is not None:
            self.peer.send(item)

    def send(self, item: bytes | None) -> None:
        """Write ``item`` (data, EOF or close) out of this side; held until this side is connected (a
        client may speak before the relay's connection to the server is up)."""
        out = self.transport
        if out is None:
            self._early.append(item)
            return
        if out.is_closing():
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
    schedule = _Schedule(rtt_ms / 2000.0)
    loop = asyncio.get_running_loop()

    async def connect_upstream(client: _Side, server_side: _Side) -> None:
        assert client.transport is not None
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
            # Read no more until the upstream connection exists (what came first waits for it in the
            # upstream side's ``send``: uvloop starts reading a new connection after this, paused or not).
            self.transport.pause_reading()
            sock = self.transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):  # uvloop sets it already
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Paired now, not in the task: a chunk read before the task runs has somewhere to wait.
            server_side = _Side(schedule)
            server_side.peer, self.peer = self, server_side
            task = loop.create_task(connect_upstream(self, server_side))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)

    _tasks: set[asyncio.Task[None]] = set()
    server = await loop.create_server(lambda: Client(schedule), host, port, backlog=1024)
    bound = int(server.sockets[0].getsockname()[1])
    if ready is not None:
        ready.set_result(bound)
    async with server:
        await server.serve_forever()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    # uvloop for the sockets when the timers can be a timerfd; else asyncio on select(), whose timeout is
    # in microseconds (see the module's docstring).
    try:
        import uvloop

        _Timerfd().clear()
    except (ImportError, OSError, AttributeError):
        return lambda: asyncio.SelectorEventLoop(selectors.SelectSelector())
    return uvloop.new_event_loop


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
    runner = asyncio.Runner(loop_factory=_loop_factory())

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
