"""The toolkit's own state databases (the shadow store, the audit log): SQLite for one machine, PostgreSQL
for several, through SQLAlchemy Core. One place for how either is opened and its tables made."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa


class StoreNotFound(FileNotFoundError):
    """A store opened for reading (``create=False``) that does not exist."""


def engine_url(url: str, what: str = "a store") -> sa.URL:
    """The SQLAlchemy URL of a store: SQLite as given, PostgreSQL through psycopg 3 whatever it names."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return parsed
    raise ValueError(f"{what} is sqlite:///PATH or postgresql://..., not {parsed.get_backend_name()}")


def shown_url(url: str) -> str:
    """A store's URL for a message or a report: its password hidden."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(a URL that does not parse)"


def open_engine(url: str, *, create: bool, what: str = "store") -> sa.Engine:
    """An engine on the store at ``url``. ``create=False`` opens it for reading only: a missing SQLite file
    raises :class:`StoreNotFound` (nothing is created)."""
    parsed = engine_url(url, f"a {what}")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, create=create, what=what)
    return sa.create_engine(parsed, pool_pre_ping=True)


def create_tables(engine: sa.Engine, metadata: sa.MetaData, lock_key: int) -> None:
    """Create ``metadata``'s tables and indexes where missing, safe against another process doing the same."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two processes starting at once would both find a table missing and both create it.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
        # IF NOT EXISTS, not create_all's look-then-create: on SQLite, two stores opened at once would
        # both look, then both create.
        for table in metadata.sorted_tables:
            conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))


def _sqlite_engine(url: sa.URL, *, create: bool, what: str) -> sa.Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        if not create and not path.is_file():
            raise StoreNotFound(f"no {what} at {path}")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")  # writers queue for the lock instead of failing
        # WAL: a report or the dashboard reads while a writer writes, neither waiting on the other.
        # It stays set in the file; a reader (create=False) leaves the file as it is.
        if create and cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                pass  # "database is locked": another connection is switching it at this very moment
        cursor.close()

    return engine


__all__ = ["StoreNotFound", "create_tables", "engine_url", "open_engine", "shown_url"]
