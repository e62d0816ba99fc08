"""Where the stack's database comes from: ``DATABASE_URL``, else the embedded server; migrated and seeded."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from shared_db.config import DatabaseURL, InvalidDatabaseURL
from shared_db.embedded import embedded_database

from .errors import CutoverError

DJANGO_SETTINGS = "legacy_django.settings"


def child_env(url: DatabaseURL, **extra: str) -> dict[str, str]:
    """The environment for a process of either app: the parent's plus the database URL."""
    env = dict(os.environ)
    env.update({"DATABASE_URL": url.libpq(), "DJANGO_SETTINGS_MODULE": DJANGO_SETTINGS, **extra})
    return env


def django_admin(url: DatabaseURL, *args: str, quiet: bool = True) -> str:
    """Run a Django management command against ``url``; raise CutoverError with its stderr on failure."""
    proc = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=child_env(url),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise CutoverError(f"`django-admin {' '.join(args)}` failed: {last}")
    return proc.stdout


def parse_url(raw: str | None) -> DatabaseURL | None:
    if not raw:
        return None
    try:
        return DatabaseURL.parse(raw)
    except InvalidDatabaseURL as exc:
        raise CutoverError(str(exc)) from exc


@contextmanager
def provisioned_database(
    url: DatabaseURL | None, data_dir: Path, *, migrate: bool = True, seed: bool = True
) -> Iterator[DatabaseURL]:
    """Yield a ready database: ``url`` if given, else the embedded server in ``data_dir``.

    The embedded server is stopped on exit; an explicit database is left running, as it was found.
    """
    source = nullcontext(url) if url is not None else embedded_database(data_dir)
    with source as ready:
        assert ready is not None
        if migrate:
            django_admin(ready, "migrate", "--noinput")
        if seed:
            django_admin(ready, "seed_demo")
        yield ready
