"""Starting the benchmarked servers quietly, and reading the CPU time they spend."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil

from ..runner import Service

__all__ = ["cpu_seconds", "cpu_spent", "postgres_pids", "running", "settle", "tree_pids", "worker_processes"]


@contextmanager
def running(services: Sequence[Service], log_dir: Path, timeout: float = 60.0) -> Iterator[Sequence[Service]]:
    """Start ``services`` in order with their output in ``log_dir/<name>.log``; stop them all on exit.

    Access logs stay on (they are part of what a production server does) but go to a file, not the terminal.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for service in services:
            log = stack.enter_context(open(log_dir / f"{service.name}.log", "ab"))
            stack.callback(service.stop)
            service.process = subprocess.Popen(
                list(service.argv),
                env=service.env,
                cwd=service.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            service.wait_ready(timeout)
        yield services


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (a gunicorn/uvicorn master and its workers; nginx and its workers)."""
    try:
        proc = psutil.Process(root)
        return [root, *(c.pid for c in proc.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def worker_processes(root: int) -> int:
    """Live worker processes under a server master (multiprocessing's helper processes not counted)."""
    try:
        children = psutil.Process(root).children()
    except psutil.NoSuchProcess:
        return 0
    helpers = ("resource_tracker", "semaphore_tracker", "forkserver")
    count = 0
    for child in children:
        try:
            cmdline = " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        count += not any(h in cmdline for h in helpers)
    return count


def postgres_pids(data_dir: Path) -> list[int]:
    """The postmaster serving ``data_dir`` and its backends, found by the ``-D`` argument."""
    wanted = str(Path(data_dir).absolute())
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if cmdline and Path(cmdline[0]).name == "postgres" and wanted in cmdline:
            return tree_pids(proc.pid)
    return []


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """CPU seconds of each live process: its own user + system, plus those of its children that ended.

    The children's part matters: a database connection closed during a window (a pool's overflow
    connection, say) takes its backend's CPU with it, except into the postmaster's account of its
    finished children. Counting both keeps the difference of two snapshots exact.
    """
    out: dict[int, float] = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        out[pid] = times.user + times.system + times.children_user + times.children_system
    return out


def settle(
    pids: Callable[[], Iterable[int]], quiet_cores: float = 0.15, interval: float = 0.3, timeout: float = 90.0
) -> float:
    """Wait until ``pids`` use less than ``quiet_cores`` of CPU; return the seconds waited.

    A server keeps working on requests whose client has gone (a sign-up abandoned at the end of a window
    still hashes its password): without this, one window's leftovers would be charged to the next.
    """
    start = time.monotonic()
    previous = cpu_seconds(pids())
    while time.monotonic() - start < timeout:
        time.sleep(interval)
        current = cpu_seconds(pids())
        if cpu_spent(previous, current) / interval < quiet_cores:
            break
        previous = current
    return time.monotonic() - start


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots of one process tree (see :func:`cpu_seconds`).

    Totals, not per process: a process born in between counts from zero, and one that ended has moved
    its whole time into its parent's account of finished children, where the difference finds it.
    """
    return sum(after.values()) - sum(before.values())
