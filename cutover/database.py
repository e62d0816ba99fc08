"""Where the stack's database comes from (``DATABASE_URL``, else the embedded server), migrated and seeded
as the project config says, and the watchdog that tells whether it is still there."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import psycopg

from cutover.dburl import DatabaseURL, InvalidDatabaseURL
from cutover.embedded import embedded_database

from .config import ProjectConfig, load_config
from .errors import CutoverError, last_line, one_line
from .exit_codes import ExitCode


def child_env(url: DatabaseURL, project: ProjectConfig | None = None, **extra: str) -> dict[str, str]:
    """The environment for a process of either app: the parent's, the database URL, the project's settings
    module, and the project root on the import path (as ``manage.py`` has it). ``project`` defaults to the
    config found from the working directory."""
    project = project if project is not None else load_config()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url.libpq(),
            "DJANGO_SETTINGS_MODULE": project.settings_module(),
            "PYTHONPATH": project.pythonpath(),
            **extra,
        }
    )
    return env


def django_admin(url: DatabaseURL, project: ProjectConfig, *args: str) -> str:
    """Run a management command of the project against ``url``; CutoverError with its last line on failure."""
    proc = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=child_env(url, project),
        cwd=project.root,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        last = last_line(proc.stderr)
        raise CutoverError(f"`django-admin {' '.join(args)}` failed: {last}")
    return proc.stdout


def parse_url(raw: str | None) -> DatabaseURL | None:
    if not raw:
        return None
    try:
        return DatabaseURL.parse(raw)
    except InvalidDatabaseURL as exc:
        raise CutoverError(str(exc)) from exc


def check_reachable(url: DatabaseURL) -> None:
    """One line naming the database when it does not accept a connection (before anything is started)."""
    try:
        with psycopg.connect(url.libpq(), connect_timeout=5):
            pass
    except psycopg.Error as exc:
        raise CutoverError(f"cannot connect to the database at {url.redacted()}: {one_line(exc)}") from None


@contextmanager
def provisioned_database(
    url: DatabaseURL | None,
    data_dir: Path,
    project: ProjectConfig,
    *,
    seed: bool = True,
    throwaway: bool = False,
) -> Iterator[DatabaseURL]:
    """Yield a ready database: ``url`` if given, else the embedded server in ``data_dir``.

    It is migrated and seeded only as the project config says (``[database] migrate`` and ``seed``): by
    default the embedded server is migrated and an explicit database is left exactly as it was found.
    ``seed=False`` skips the seed command. The embedded server is stopped on exit (and with ``throwaway``
    its data deleted); an explicit database is left running.
    """
    if url is not None:
        check_reachable(url)
    source = nullcontext(url) if url is not None else embedded_database(data_dir, throwaway=throwaway)
    with source as ready:
        assert ready is not None
        if project.database.migrates(explicit_url=url is not None):
            django_admin(ready, project, "migrate", "--noinput")
            if seed and project.database.seed:
                django_admin(ready, project, *shlex.split(project.database.seed))
        yield ready


class DatabaseWatch:
    """The stack's database watchdog: the stack goes on while the database answers, and through a restart,
    but stops once the database has not accepted a connection for ``grace`` seconds ("gone").

    Probes run on a thread of their own (a connection attempt to a dead host can take its whole timeout),
    so the supervisor's loop never waits on them.
    """

    def __init__(self, url: DatabaseURL, *, grace: float = 30.0, interval: float = 1.0) -> None:
        self.url = url
        self.grace = grace
        self.interval = interval
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._error = ""
        self._reported = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe_loop, name="database-watch", daemon=True)

    def __enter__(self) -> DatabaseWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _probe_loop(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url.libpq(), connect_timeout=2, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                error = None
            except psycopg.Error as exc:
                error = one_line(exc)
            with self._lock:
                if error is None:
                    self._down_since = None
                else:
                    self._error = error
                    if self._down_since is None:
                        self._down_since = time.monotonic()
            self._stop.wait(self.interval)

    def poll(self, say: Callable[[str], None]) -> None:
        with self._lock:
            down_since, error = self._down_since, self._error
        if down_since is None:
            if self._reported:
                say("the database answers again")
                self._reported = False
            return
        if not self._reported:
            say(
                f"the database does not answer ({error}); requests that need it fail until it is back; "
                f"the stack stops if it has not come back within {self.grace:.0f}s"
            )
            self._reported = True
        if time.monotonic() - down_since >= self.grace:
            raise CutoverError(
                f"the database has not answered for {self.grace:.0f}s ({error}): stopping the stack",
                ExitCode.FAILED,
            )
