"""Process supervision for ``cutover up``: start the servers, keep them serving, stop every process.

The supervisor's promises:

- An app server that dies is said so, restarted with backoff (1 s, 2 s, 4 s ... 30 s; the backoff resets
  once the server has stayed up for a minute) and said back; nothing else is stopped because of it, so the
  front door keeps failing requests over to the app that is still up.
- The stack ends only on Ctrl-C/SIGTERM or when a watchdog (the database's) says it cannot go on.
- Every service runs in a process group of its own, and stopping a service means that no process of its
  group is left: masters, workers and orphans of a master that was killed. A signal that arrives while the
  stack is stopping does not interrupt the stopping.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx
import psutil

from .errors import CutoverError

__all__ = [
    "Restarts",
    "Service",
    "Supervisor",
    "Terminated",
    "Watchdog",
    "group_members",
    "ignore_stop_signals",
    "install_stop_signals",
    "stop_signals_ignored_on_exit",
    "python_module",
]


def group_members(pgid: int) -> list[psutil.Process]:
    """The live processes of process group ``pgid`` (zombies are dead: they hold no port and no memory)."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                found.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return found


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Service:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    url: str  # an HTTP URL that answers (any status) once the service is ready
    cwd: Path | None = None  # where it runs (the project root)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def check_port_free(self) -> None:
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise CutoverError(
                    f"port {port} on {host} is already in use; "
                    f"stop what holds it or give the {self.name} server another port"
                ) from None

    def start(self) -> None:
        # A session (and so a process group) of its own: the supervisor decides when the service stops, not
        # the terminal's Ctrl-C, and stopping the group reaches every worker the server forked.
        self.process = subprocess.Popen(list(self.argv), env=self.env, cwd=self.cwd, start_new_session=True)

    def exit_code(self) -> int | None:
        """The master's exit code once it has exited (reaping it), else None."""
        return None if self.process is None else self.process.poll()

    def ready(self, timeout: float = 1.0) -> bool:
        """Whether the service answers HTTP at its URL now (any status counts), and it is this service
        that answers: a process of its group listens on the URL's port."""
        try:
            httpx.get(self.url, timeout=timeout)
        except httpx.TransportError:
            return False
        return self.listener() != "another process"

    def listener(self) -> str:
        """Who listens on the URL's port: ``"this service"`` (a process of its group), ``"another
        process"``, or ``"unknown"`` (not started here, or the processes cannot be looked at)."""
        if self.process is None:
            return "unknown"
        port = urlsplit(self.url).port or 80
        looked = False
        for proc in group_members(self.process.pid):
            try:
                connections = proc.net_connections(kind="inet")
            except (psutil.AccessDenied, psutil.NoSuchProcess):
                continue
            looked = True
            if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections):
                return "this service"
        return "another process" if looked else "unknown"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.exit_code()
            if code is not None:
                raise CutoverError(f"{self.name} exited with code {code} while starting")
            if self.ready():
                return
            time.sleep(0.1)
        if self.listener() == "another process":
            raise CutoverError(
                f"{self.name} did not start listening at {self.url} within {timeout:.0f}s: "
                "another process answers on that port"
            )
        raise CutoverError(f"{self.name} did not answer at {self.url} within {timeout:.0f}s")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the whole group, SIGKILL to what is left after ``grace``; return once none is left.

        Also when the master has already exited: the workers of a master that was killed stay behind in
        its group (still listening, as orphans) until someone stops them.
        """
        proc = self.process
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the master leads its own group
        _signal_group(pgid, signal.SIGTERM)
        if not self._wait_group_empty(pgid, grace):
            _signal_group(pgid, signal.SIGKILL)
            if not self._wait_group_empty(pgid, 10.0):
                left = ", ".join(str(p.pid) for p in group_members(pgid))
                raise CutoverError(f"{self.name}: processes {left} did not stop after SIGKILL")

    def _wait_group_empty(self, pgid: int, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if not group_members(pgid):
                # The master, dead or a zombie, is reaped now (its exit code kept for exit_code()).
                self.process.wait(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


class Watchdog(Protocol):
    """Something the supervisor asks, once per loop, whether the stack can go on."""

    def poll(self, say: Callable[[str], None]) -> None:
        """Say what changed; raise CutoverError when the stack must stop."""


@dataclass
class Restarts:
    """Backoff for one service: 1 s, 2 s, 4 s ... ``cap``; reset once the service stays up ``stable`` s."""

    first: float = 1.0
    cap: float = 30.0
    stable: float = 60.0
    attempts: int = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * 2**self.attempts)
        self.attempts += 1
        return delay


@dataclass
class _State:
    service: Service
    restarts: Restarts
    phase: str = "running"  # running | waiting (to restart) | starting
    since: float = 0.0  # when the phase began
    down_since: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Starts services in order, keeps them running, and stops them in reverse."""

    def __init__(
        self,
        services: Sequence[Service],
        *,
        say: Callable[[str], None] = print,
        watchdogs: Sequence[Watchdog] = (),
        restarts: Callable[[], Restarts] = Restarts,
        start_timeout: float = 60.0,
        interval: float = 0.2,
    ) -> None:
        self.services = list(services)
        self.say = say
        self.watchdogs = list(watchdogs)
        self.start_timeout = start_timeout
        self.interval = interval
        self._states = [_State(s, restarts()) for s in self.services]

    def __enter__(self) -> Supervisor:
        try:
            for service in self.services:
                service.check_port_free()
            now = time.monotonic()
            for state in self._states:
                state.service.start()
                state.service.wait_ready(timeout=self.start_timeout)
                state.since = now
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every service, last started first; a signal arriving now cannot cut this short."""
        ignore_stop_signals()
        failures = []
        for service in reversed(self.services):
            try:
                service.stop()
            except CutoverError as exc:
                failures.append(str(exc))
        if failures:
            raise CutoverError("; ".join(failures))

    def wait(self) -> None:
        """Supervise until a signal arrives (SIGINT/SIGTERM) or a watchdog stops the stack."""
        while True:
            self.step()
            time.sleep(self.interval)

    def step(self) -> None:
        """One round: notice exits, restart what is due, greet what is back, ask the watchdogs."""
        for state in self._states:
            self._step(state, time.monotonic())
        for watchdog in self.watchdogs:
            watchdog.poll(self.say)

    def _step(self, state: _State, now: float) -> None:
        service = state.service
        if state.phase == "running":
            code = service.exit_code()
            if code is None:
                if now - state.since >= state.restarts.stable:
                    state.restarts.attempts = 0
                return
            state.down_since = now
            self._schedule(state, now, f"{service.name} exited unexpectedly (code {code})")
        elif state.phase == "waiting":
            if now >= state.restart_at:
                service.start()
                state.phase, state.since = "starting", now
        elif state.phase == "starting":
            code = service.exit_code()
            if code is not None:
                self._schedule(state, now, f"{service.name} exited with code {code} while restarting")
            elif service.ready(timeout=0.5):
                state.phase, state.since = "running", now
                self.say(
                    f"{service.name} is back at {service.url} "
                    f"(down {now - state.down_since:.1f}s, restart {state.restarts.attempts})"
                )
            elif now - state.since > self.start_timeout:
                why = f"{service.name} did not answer within {self.start_timeout:.0f}s of restarting"
                self._schedule(state, now, why)

    def _schedule(self, state: _State, now: float, why: str) -> None:
        delay = state.restarts.next_delay()
        self.say(f"{why}; restarting it in {delay:g}s (the other servers keep serving)")
        # Whatever is left of the old process group (orphaned workers still holding the port) goes first.
        try:
            state.service.stop(grace=5.0)
        except CutoverError as exc:
            self.say(str(exc))
        state.phase, state.restart_at = "waiting", now + delay


class Terminated(Exception):
    """Raised in the main thread when SIGTERM arrives, so that context managers clean up."""


def ignore_stop_signals() -> None:
    """From now on SIGINT and SIGTERM are ignored (when called from the main thread): cleanup has begun."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:  # not the main thread: no handlers of ours to take back
        pass


@contextmanager
def stop_signals_ignored_on_exit() -> Iterator[None]:
    """On leaving the block, however it is left, ignore SIGINT and SIGTERM: what exits after it cleans up."""
    try:
        yield
    finally:
        ignore_stop_signals()


@contextmanager
def install_stop_signals() -> Iterator[None]:
    """The first SIGINT (KeyboardInterrupt) or SIGTERM (Terminated) stops the stack; later ones are ignored
    so they cannot interrupt the cleanup. Installed explicitly because a non-interactive shell starts
    background jobs with SIGINT ignored, and Python would then never raise KeyboardInterrupt. The handlers
    in place before are put back on exit."""

    def stop(signum: int, frame: object) -> None:
        ignore_stop_signals()
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated()

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
