"""One promotion of a route at a time: two would step and judge the same canary against each other."""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import CutoverError


@contextmanager
def promotion_lock(directory: Path, route_id: str) -> Iterator[None]:
    """Hold ``directory/promote-ROUTE.lock`` for the promotion; CutoverError (one line) when another process
    holds it. The lock is the kernel's (flock): a promotion that died leaves nothing to clean up."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"promote-{re.sub(r'[^A-Za-z0-9_.-]', '_', route_id)}.lock"
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise CutoverError(
                f"a promotion of {route_id!r} is already running ({holder}); one at a time"
            ) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


__all__ = ["promotion_lock"]
