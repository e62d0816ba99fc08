"""The benchmark's own database: 10,000 seeded users and a token, never the development database."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import psycopg

from cutover.dburl import DatabaseURL
from cutover.embedded import embedded_database

from ..config import load_config
from ..database import django_admin
from ..errors import CutoverError

__all__ = [
    "BENCH_DATA_DIR",
    "BENCH_EMAIL_DOMAIN",
    "BENCH_USERNAME",
    "Dataset",
    "bench_database",
    "describe_dataset",
    "prepare_dataset",
]

# Apart from .data/postgres (the development database) on purpose: the bench adds and deletes users.
BENCH_DATA_DIR = Path(".data") / "bench-postgres"
BENCH_USERNAME = "demo"  # the seed's staff user; its token authenticates every GET
BENCH_EMAIL_DOMAIN = "bench.example"  # users created by the POST scenario, deleted before each run
SEARCH_TERM = "user1"  # matches user1, user10..19, user100..199, user1000..1999, user10000: ~56 pages


@dataclass(frozen=True)
class Dataset:
    """What the load scripts need to know about the seeded database."""

    url: DatabaseURL
    token: str
    min_id: int
    max_id: int
    users: int
    search: str
    search_pages: int


@contextmanager
def bench_database(url: DatabaseURL | None, data_dir: Path = BENCH_DATA_DIR) -> Iterator[DatabaseURL]:
    """``url`` if given, else an embedded server of the benchmark's own in ``data_dir`` (stopped on exit)."""
    if url is None and Path(data_dir).absolute() == (Path(".data") / "postgres").absolute():
        raise CutoverError("the benchmark never runs on the development database (.data/postgres)")
    source = nullcontext(url) if url is not None else embedded_database(data_dir, name="bench")
    with source as ready:
        assert ready is not None
        yield ready


def prepare_dataset(url: DatabaseURL, users: int = 10_000) -> Dataset:
    """Migrate, seed ``users`` generated users (idempotent), drop earlier runs' sign-ups, make a token."""
    project = load_config()
    django_admin(url, project, "migrate", "--noinput")
    django_admin(url, project, "seed_demo", "--count", str(users))
    with psycopg.connect(url.libpq(), autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE email LIKE %s", (f"%@{BENCH_EMAIL_DOMAIN}",))
        # Fresh statistics after the bulk insert/delete: every target then gets the same plans.
        conn.execute("VACUUM ANALYZE users")
    out = django_admin(url, project, "drf_create_token", BENCH_USERNAME)
    match = re.search(r"token (\w+) for user", out)
    if match is None:
        raise CutoverError(f"could not read the token from drf_create_token: {out.strip()!r}")
    return describe_dataset(url, match.group(1))


def describe_dataset(url: DatabaseURL, token: str, search: str = SEARCH_TERM) -> Dataset:
    """Read the id range and the number of search result pages from the database."""
    with psycopg.connect(url.libpq()) as conn:
        lo, hi, n = conn.execute("SELECT MIN(id), MAX(id), COUNT(*) FROM users").fetchone() or (None, None, 0)
        pattern = "%" + search + "%"
        (hits,) = conn.execute(
            "SELECT COUNT(*) FROM users WHERE username ILIKE %s OR email ILIKE %s"
            " OR first_name ILIKE %s OR last_name ILIKE %s",
            (pattern,) * 4,
        ).fetchone() or (0,)
    if not n or lo is None or hi is None:
        raise CutoverError("the benchmark database has no users")
    return Dataset(url, token, lo, hi, n, search, max(1, math.ceil(hits / 20)))
