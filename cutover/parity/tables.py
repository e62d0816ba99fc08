"""Which tables a parity case compares, how their rows are identified, and which columns need care.

Found through Django's own APIs once the project's settings are set up, and checked against the database:

- ``[parity] tables`` (default: every table of the project's own installed apps' models, found through
  the app registry, many-to-many tables included; "own" means an app whose code lies under the project
  root and not in an installed package, so ``django.contrib``'s and DRF's are left out unless named);
- each row is identified by its primary key as the database declares it (composite where there is no
  single one, every column where there is none);
- ``[parity] hashed`` (default: the user model's password column) are compared by what they verify;
- the session table of ``django.contrib.sessions`` (when the session engine stores sessions in the
  database) has its data decoded, and its keys and those of DRF's token table are secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CutoverError

__all__ = ["Table", "TableError", "Tables", "discover_tables", "project_tables"]


class TableError(CutoverError):
    """A configured table or column the database does not have: one line naming it."""


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]  # the columns that identify a row (the primary key)
    serial: bool = False  # the key is one column drawn from a sequence: inserted rows get comparable keys

    def row_key(self, row: Mapping[str, Any]) -> str:
        return ",".join(str(row[c]) for c in self.key)


@dataclass(frozen=True)
class Tables:
    """The compared tables and what the engine knows about their columns."""

    compared: tuple[Table, ...]
    hashed: frozenset[tuple[str, str]] = frozenset()  # (table, column) compared by verification
    session: tuple[str, str] | None = None  # (table, data column) decoded by the session engine
    secret_columns: frozenset[tuple[str, str]] = frozenset()  # (table, column) whose values are credentials
    user: tuple[str, str] | None = None  # (table, username column) of the user model
    truncated: tuple[str, ...] = ()  # what the reset empties: the compared tables and what references them
    sequences: tuple[tuple[str, str, str], ...] = field(default=())  # (table, column, sequence) to set

    def get(self, name: str) -> Table | None:
        return next((t for t in self.compared if t.name == name), None)


def _own(app_path: str, root: Path) -> bool:
    path = Path(app_path).resolve()
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return False
    return path.is_relative_to(root.resolve())


def project_tables(root: Path) -> list[str]:
    """The tables of the models of the project's own installed apps (M2M tables included), in app order."""
    from django.apps import apps

    names: list[str] = []
    for app_config in apps.get_app_configs():
        if not _own(app_config.path, root):
            continue
        for model in app_config.get_models():
            meta = model._meta
            if meta.proxy or meta.swapped or not meta.managed:
                continue
            # Each model's table, then the many-to-many tables Django made for it.
            through = [f.remote_field.through for f in meta.local_many_to_many]
            for table in [meta.db_table, *(t._meta.db_table for t in through if t._meta.auto_created)]:
                if table not in names:
                    names.append(table)
    return names


def _user_columns() -> tuple[str, str, str | None]:
    from django.contrib.auth import get_user_model

    meta = get_user_model()._meta
    username = meta.get_field(get_user_model().USERNAME_FIELD).column
    try:
        password: str | None = meta.get_field("password").column
    except Exception:
        password = None
    return meta.db_table, username, password


def _session_table() -> tuple[str, str, str] | None:
    from django.conf import settings

    if "django.contrib.sessions" not in settings.INSTALLED_APPS:
        return None
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):  # cookie, cache or file sessions: no table
        return None
    meta = store.get_model_class()._meta
    return meta.db_table, meta.get_field("session_key").column, meta.get_field("session_data").column


def _token_table() -> tuple[str, str] | None:
    from django.apps import apps

    if not apps.is_installed("rest_framework.authtoken"):
        return None
    meta = apps.get_model("authtoken", "Token")._meta
    return meta.db_table, meta.get_field("key").column


def _existing(conn: Any, names: Iterable[str]) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(current_schemas(false)) AND c.relname = ANY(%s)",
        (list(names),),
    ).fetchall()
    return {_first(r) for r in rows}


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, Mapping) else row[0]


def _columns(conn: Any, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
        " ORDER BY attnum",
        (table,),
    ).fetchall()
    return [_first(r) for r in rows]


def _primary_key(conn: Any, table: str) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (table,),
    ).fetchall()
    return tuple(_first(r) for r in rows)


def _sequence(conn: Any, table: str, column: str) -> str | None:
    row = conn.execute("SELECT pg_get_serial_sequence(%s, %s)", (table, column)).fetchone()
    return _first(row) if row else None


def _referencing(conn: Any, tables: Sequence[str]) -> list[str]:
    """``tables`` and every table that references one of them by a foreign key, transitively."""
    found = list(tables)
    frontier = list(tables)
    while frontier:
        rows = conn.execute(
            "SELECT DISTINCT conrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND confrelid = ANY(%s::regclass[])",
            (frontier,),
        ).fetchall()
        frontier = [t.strip('"') for t in (_first(r) for r in rows) if t.strip('"') not in found]
        found.extend(frontier)
    return found


def discover_tables(
    conn: Any, *, root: Path, tables: Sequence[str] | None, hashed: Sequence[str] | None, where: str
) -> Tables:
    """The compared tables for this project (Django set up, ``conn`` a psycopg connection to its database).

    ``tables`` and ``hashed`` are the config's (None: the defaults); ``where`` names the config in errors.
    """
    user_table, username_column, password_column = _user_columns()
    # No table (an API of its own apps without models, or `tables = []`): responses are compared and
    # nothing is reset; the session says so (session.NO_TABLES).
    names = list(tables) if tables is not None else project_tables(root)
    present = _existing(conn, names)
    missing = [n for n in names if n not in present]
    if missing:
        origin = "in [parity] tables" if tables is not None else "of the project's models"
        raise TableError(f"table {missing[0]!r} {origin} is not in the database (not migrated?) ({where})")
    compared = []
    for name in names:
        key = _primary_key(conn, name) or tuple(_columns(conn, name))
        serial = len(key) == 1 and _sequence(conn, name, key[0]) is not None
        compared.append(Table(name, key, serial))

    hashed_columns: set[tuple[str, str]] = set()
    if hashed is None:
        if password_column is not None and user_table in names:
            hashed_columns.add((user_table, password_column))
    else:
        for entry in hashed:
            table, dot, column = entry.rpartition(".")
            if not dot or not table or not column:
                raise TableError(f"[parity] hashed {entry!r} must be 'table.column' ({where})")
            if table not in present and table not in _existing(conn, [table]):
                raise TableError(
                    f"[parity] hashed {entry!r}: table {table!r} is not in the database ({where})"
                )
            if column not in _columns(conn, table):
                raise TableError(
                    f"[parity] hashed {entry!r}: table {table!r} has no column {column!r} ({where})"
                )
            hashed_columns.add((table, column))

    secret_columns: set[tuple[str, str]] = set()
    session = _session_table()
    session_data = None
    if session is not None:
        secret_columns.add((session[0], session[1]))
        session_data = (session[0], session[2])
    token = _token_table()
    if token is not None:
        secret_columns.add(token)

    truncated = _referencing(conn, names)
    sequences = []
    for table in truncated:
        for column in _columns(conn, table):
            sequence = _sequence(conn, table, column)
            if sequence is not None:
                sequences.append((table, column, sequence))
    return Tables(
        compared=tuple(compared),
        hashed=frozenset(hashed_columns),
        session=session_data,
        secret_columns=frozenset(secret_columns),
        user=(user_table, username_column),
        truncated=tuple(truncated),
        sequences=tuple(sequences),
    )
