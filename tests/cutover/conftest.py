"""Fixtures of the toolkit's tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    """A data directory for an embedded server that pg_ctl, run as the server's own user, can reach for the
    whole test. Not under tmp_path: every pytest session that starts on the machine (a second run, a
    helper's) sets /tmp/pytest-of-root back to 0700, and the embedded server's user then cannot reach its
    directory there any more (seen as pg_ctl's "could not access directory ...: Permission denied")."""
    scratch = Path(tempfile.mkdtemp(prefix="cutover-faults-"))
    try:
        yield scratch / "pg"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
