"""Fixtures of the toolkit's tests."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cutover.config import load_config
from cutover.database import django_admin
from cutover.dburl import DatabaseURL
from cutover.embedded import ensure_database


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


@pytest.fixture(scope="module")
def migrated() -> Iterator[DatabaseURL]:
    """A database of the test module's own, migrated by Django's real `migrate` (the test database is
    left alone), dropped afterwards."""
    server = DatabaseURL.parse(os.environ["DATABASE_URL"])
    url = ensure_database(server, f"migrated_{uuid.uuid4().hex[:8]}")
    django_admin(url, load_config(), "migrate", "--noinput")
    yield url
    with psycopg.connect(server.with_name("postgres").libpq(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{url.name}" WITH (FORCE)')


def alter(url: DatabaseURL, sql: str) -> None:
    with psycopg.connect(url.libpq(), autocommit=True) as conn:
        conn.execute(sql)
