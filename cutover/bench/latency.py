"""The database's distance: ``--db-latency`` parsed, and the delayed path the apps reach it through.

Latency ``0`` is the database as it is (the apps connect to it directly). Any other latency is a round
trip added between the apps and PostgreSQL by the user-space relay (:mod:`.relay`) in a process of its
own: the apps' ``DATABASE_URL`` points at the relay's loopback port, so every query's round trip pays
it, as against a database in another zone. A kernel with ``netem`` could delay a network namespace's
link instead; this module probes for it and says which path it took, but the relay is the one path it
sets up (``netem`` needs the server itself moved into the namespace, which the embedded server is not).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..dburl import DatabaseURL
from ..errors import CutoverError
from .relay import READY

__all__ = [
    "DelayedDatabase",
    "LatencyUnavailable",
    "delayed_database",
    "format_latency",
    "netem_unavailable",
    "parse_latencies",
    "upstream_of",
]

MAX_LATENCY_MS = 1000.0
_VALUE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|us|µs|s)?$")
_SCALE = {None: 1.0, "ms": 1.0, "us": 0.001, "µs": 0.001, "s": 1000.0}


class LatencyUnavailable(CutoverError):
    """A delayed path to the database cannot be set up here: the latency is reported not measured."""


def parse_latencies(raw: str | Sequence[str], option: str = "--db-latency") -> tuple[float, ...]:
    """``0,1ms,5ms`` (a bare number is milliseconds; ``us`` and ``s`` also read) as round trips in ms.

    One clear line for anything else: a unit it does not know, a negative or absurd value, a repeat.
    """
    items = [x.strip() for x in raw.split(",")] if isinstance(raw, str) else [str(x).strip() for x in raw]
    items = [x for x in items if x]
    values: list[float] = []
    for item in items:
        match = _VALUE.match(item.lower())
        if match is None:
            raise CutoverError(
                f"{option} wants comma-separated round-trip times like 0,1ms,5ms; {item!r} is not one"
            )
        value = float(match.group(1)) * _SCALE[match.group(2)]
        if value > MAX_LATENCY_MS:
            raise CutoverError(f"{option}: {item} is more than {MAX_LATENCY_MS:.0f} ms per round trip")
        if value in values:
            raise CutoverError(f"{option}: {format_latency(value)} is given twice")
        values.append(value)
    if not values:
        raise CutoverError(f"{option} wants at least one round-trip time, like 0 or 5ms")
    return tuple(values)


def format_latency(ms: float) -> str:
    """``0 ms``, ``1 ms``, ``0.5 ms``: as the report writes a round trip."""
    return f"{ms:g} ms"


@dataclass(frozen=True)
class DelayedDatabase:
    """Where the apps connect for one latency, how the delay is made, and whose CPU is the delay's."""

    url: DatabaseURL
    rtt_ms: float
    how: str
    pids: tuple[int, ...] = ()


def upstream_of(url: DatabaseURL) -> str:
    """The relay's ``--upstream`` for a database URL: its unix socket, or its host and port."""
    port = url.port or 5432
    if url.is_socket:
        return f"unix:{url.host.rstrip('/')}/.s.PGSQL.{port}"
    return f"tcp:{url.host}:{port}"


def netem_unavailable() -> str | None:
    """Why the kernel cannot delay a link with netem (None: it can), probed in a namespace of our own."""
    name = f"cutover-probe-{time.monotonic_ns() % 1_000_000}"
    try:
        added = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot make a network namespace: {exc}"
    if added.returncode != 0:
        return f"cannot make a network namespace: {added.stderr.strip() or added.returncode}"
    try:
        tc = subprocess.run(
            ["ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return None if tc.returncode == 0 else f"tc netem: {tc.stderr.strip() or tc.returncode}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"tc netem: {exc}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


@contextmanager
def delayed_database(
    url: DatabaseURL, rtt_ms: float, log_dir: Path, host: str = "127.0.0.1", timeout: float = 10.0
) -> Iterator[DelayedDatabase]:
    """The database ``rtt_ms`` away: ``url`` itself for 0, else a relay in front of it, stopped on exit.

    Raises :class:`LatencyUnavailable` (one line) when the relay cannot be started.
    """
    if rtt_ms <= 0:
        yield DelayedDatabase(url, 0.0, "direct (no added latency)")
        return
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"relay-{rtt_ms:g}ms.log"
    argv = [
        sys.executable, "-m", "cutover.bench.relay",
        "--upstream", upstream_of(url), "--rtt-ms", f"{rtt_ms:g}", "--host", host,
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        except OSError as exc:
            raise LatencyUnavailable(f"cannot start the delay relay: {exc}") from None
    try:
        port = _wait_listening(proc, timeout)
        if port is None:
            why = log_path.read_text(errors="replace").strip().splitlines()
            raise LatencyUnavailable(
                f"the delay relay did not start ({why[-1] if why else f'exit {proc.poll()}'}); "
                f"database latency {format_latency(rtt_ms)} cannot be set up here"
            )
        how = (
            f"user-space delaying TCP relay (cutover.bench.relay, pid {proc.pid}) on {host}:{port}, "
            f"{rtt_ms / 2:g} ms each way, in front of {url.redacted()}"
        )
        relayed = DatabaseURL(url.user, url.password, host, port, url.name)
        yield DelayedDatabase(relayed, rtt_ms, how, (proc.pid,))
    finally:
        _stop(proc)


def _wait_listening(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    # The relay prints one line once it accepts connections; nothing else ever goes to its stdout.
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return None
    line = proc.stdout.readline().decode(errors="replace").strip()
    if not line.startswith(READY):
        return None
    return int(line.rpartition(":")[2])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()
