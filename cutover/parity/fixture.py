"""The deterministic database state every case starts from: the project's fixture, reset before each run.

``[parity] fixture`` lists where the rows come from, loaded in order:

- a Django fixture file (``.json``, ``.yaml``, ``.xml``, compressed or not), loaded by Django's own
  ``loaddata``;
- a ``.sql`` file, executed as it is;
- a factory, ``module:function`` or ``path/to/file.py:function``, called in-process once Django is set
  up; it writes rows with the project's own models and may return a mapping with ``passwords``
  (username -> raw password: what written hashes are verified against, and what ``basic`` sends) and
  ``secrets`` (values to scrub from every report).

The reset truncates the compared tables and every table that references them (CASCADE), restores the
fixture's rows and sets every serial or identity sequence of those tables past the rows, so both apps see
the same rows and hand out the same next ids. The fixture is loaded, and the cases' credentials minted
(:mod:`.identities`), once per process; the rows that produced are read back and every later reset
writes exactly those bytes again (``COPY``), so password hashes, signed sessions and minted tokens are
identical for every run of every case. Django's work (loading, factories, minting) runs on a thread of its
own, outside any transaction the caller holds (pytest-django's, say), so that it is committed.

Most requests write nothing, so most resets are skipped: the reset notes the server's WAL insert position
once the state is in place, and the next reset (or snapshot) of the same state first asks for it again.
PostgreSQL writes WAL for every change to a logged table, for the commit or abort of every transaction
that wrote anything (a rolled-back insert included), and for the first ``nextval`` of a logged sequence
after the restore's ``setval``; so an unmoved position proves that nothing was written since: the state is
still exactly the fixture's (and the case's setup SQL), and the snapshot after such a request is the one
before it. A moved position (another database's write, a checkpoint, a row lock) only costs a reset that
was not needed. Where the position proves less (an unlogged table among the reset ones, whose sequence
hands out values without WAL; a server that does not answer the question), every reset restores.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..errors import CutoverError, described
from .identities import Credential, Csrf, IdentityError, SchemeSet, mint_for, schemes_for
from .tables import Tables, discover_tables

__all__ = [
    "Factory",
    "Fixture",
    "FixtureDatabase",
    "FixtureError",
    "FixtureFile",
    "SqlFile",
    "parse_sources",
]

Snapshot = dict[str, dict[str, dict[str, Any]]]
_EMPTY_BINARY_COPY = 21  # bytes of a binary COPY of no rows: its header and trailer
_FIXTURE_SUFFIXES = re.compile(r"\.(json|jsonl|yaml|yml|xml)(\.(gz|bz2|lzma|xz|zip))?$")
_FACTORY = re.compile(r"^(?P<target>[\w./-]+(\.py)?):(?P<name>[A-Za-z_]\w*)$")


class FixtureError(CutoverError):
    """The fixture cannot be loaded: one line naming the entry and what failed."""


@dataclass(frozen=True)
class FixtureFile:
    """A Django fixture file, loaded with ``loaddata``."""

    path: Path

    def __str__(self) -> str:
        return str(self.path)

    def load(self, conn: Any) -> Mapping[str, Any] | None:
        from django.core.management import call_command

        call_command("loaddata", str(self.path), verbosity=0)
        return None


@dataclass(frozen=True)
class SqlFile:
    """SQL statements, executed as they are on the fixture's own connection."""

    path: Path

    def __str__(self) -> str:
        return str(self.path)

    def load(self, conn: Any) -> Mapping[str, Any] | None:
        conn.execute(self.path.read_text(encoding="utf-8").encode())
        return None


@dataclass(frozen=True)
class Factory:
    """``module:function`` or ``file.py:function``, called with no arguments once Django is set up."""

    spec: str
    root: Path

    def __str__(self) -> str:
        return self.spec

    def load(self, conn: Any) -> Mapping[str, Any] | None:
        target, _, name = self.spec.rpartition(":")
        if target.endswith(".py"):
            fn = _from_file(self.root / target, name, self.spec)
        else:
            from ..imports import import_string

            fn = import_string(self.spec, self.root, what="the fixture factory")
        result = fn()
        if result is None:
            return None
        if not isinstance(result, Mapping) or not set(result) <= {"passwords", "secrets"}:
            raise FixtureError(
                f"the fixture factory {self.spec} must return None or a mapping with 'passwords' and/or "
                "'secrets'"
            )
        return result


def _from_file(path: Path, name: str, spec: str) -> Any:
    import importlib.util
    import sys

    from ..imports import project_importable

    module_name = "cutover_fixture_" + re.sub(r"\W", "_", str(path.with_suffix("")))
    if module_name not in sys.modules:
        project_importable(path.parent)
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise FixtureError(f"the fixture factory {spec}: cannot import {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise FixtureError(f"the fixture factory {spec}: importing {path} failed: {exc!r}") from None
    fn = getattr(sys.modules[module_name], name, None)
    if not callable(fn):
        raise FixtureError(f"the fixture factory {spec}: {path.name} has no function {name!r}")
    return fn


Source = FixtureFile | SqlFile | Factory


def parse_sources(entries: Sequence[str], root: Path, where: str = "[parity] fixture") -> list[Source]:
    """The config's fixture entries as sources; FixtureError for a file that is not there."""
    sources: list[Source] = []
    for entry in entries:
        factory = _FACTORY.match(entry)
        if entry.endswith(".sql"):
            source: FixtureFile | SqlFile = SqlFile(root / entry)
        elif factory is not None and (factory["target"].endswith(".py") or not (root / entry).exists()):
            if factory["target"].endswith(".py") and not (root / factory["target"]).is_file():
                raise FixtureError(f"{where}: the factory's file {root / factory['target']} does not exist")
            sources.append(Factory(entry, root))
            continue
        elif _FIXTURE_SUFFIXES.search(entry):
            source = FixtureFile(root / entry)
        else:
            raise FixtureError(
                f"{where}: {entry!r} is neither a Django fixture file (.json, .yaml, .xml), a .sql file "
                "nor a 'module:function' factory"
            )
        if not source.path.is_file():
            raise FixtureError(f"{where}: fixture file {source.path} does not exist")
        sources.append(source)
    return sources


@dataclass
class Fixture:
    """The fixture as loaded: what cases, hooks, the normaliser and the redactor know of it."""

    tables: Tables
    csrf: Csrf
    passwords: dict[str, str] = field(default_factory=dict)  # username -> raw password
    extra_secrets: set[str] = field(default_factory=set)
    credentials: dict[tuple[str, str], Credential] = field(default_factory=dict)
    rows: Snapshot = field(default_factory=dict)  # the compared tables' rows after the reset
    next_ids: dict[str, int] = field(default_factory=dict)  # table -> the next value of its key's sequence
    database: FixtureDatabase | None = field(default=None, repr=False)

    def credential(self, scheme: str, user: str) -> Credential:
        """The credential for ``scheme:user``, minted now if no case asked for it before."""
        if (scheme, user) not in self.credentials:
            if self.database is None:
                raise IdentityError(f"no credential for {scheme}:{user} was given (no fixture database)")
            self.database.mint([(scheme, user)])
        return self.credentials[(scheme, user)]

    def csrf_token(self, mode: str = "valid") -> str | None:
        return self.csrf.token(mode)

    @property
    def csrf_secret(self) -> str:
        return self.csrf.secret

    def next_id(self, table: str) -> int:
        """The id the table's sequence hands out next after a reset (what a create would get)."""
        return self.next_ids.get(table, 1)

    @property
    def next_user_id(self) -> int:
        return self.next_id(self.tables.user[0]) if self.tables.user else 1

    def integer_keys(self) -> tuple[int, ...]:
        """The integer primary keys of the compared tables' rows (generated cases draw path ids from them)."""
        keys = {
            row[t.key[0]]
            for t in self.tables.compared
            if len(t.key) == 1
            for row in self.rows.get(t.name, {}).values()
            if isinstance(row.get(t.key[0]), int) and not isinstance(row.get(t.key[0]), bool)
        }
        return tuple(sorted(keys))

    def secret_names(self) -> dict[str, str]:
        """Secret value -> how observations name it (``<fixture token maria>``)."""
        names = {self.csrf.secret: "<fixture csrf secret>"}
        for table, column in sorted(self.tables.secret_columns):
            for n, value in enumerate(sorted(str(r[column]) for r in self.rows.get(table, {}).values()), 1):
                names.setdefault(value, f"<fixture {table}.{column} #{n}>")
        for (scheme, user), credential in self.credentials.items():
            for value in credential.secrets:
                names[value] = f"<fixture {scheme} {user}>"
        return names

    def secrets(self) -> set[str]:
        """Every secret of the fixture, so that a report can scrub them wherever they appear."""
        values = {self.csrf.secret, self.csrf.token("valid") or "", self.csrf.token("wrong") or ""}
        values |= set(self.secret_names()) | set(self.passwords.values()) | self.extra_secrets
        for credential in self.credentials.values():
            values |= {v for _, v in credential.headers} | {v for _, v in credential.cookies}
        for table, column in self.tables.hashed:
            values |= {str(r[column]) for r in self.rows.get(table, {}).values() if r.get(column)}
        return {v for v in values if v}


class FixtureDatabase:
    """A connection to the database both apps use, which it resets to the fixture and snapshots.

    ``sources`` are the config's fixture entries (:func:`parse_sources`); ``schemes`` the project's own
    credential schemes (``[identities.schemes]``); ``tables`` and ``hashed`` the config's (None: defaults).
    """

    def __init__(
        self,
        url: Any,
        *,
        root: Path,
        sources: Sequence[Source] = (),
        schemes: Mapping[str, str] | None = None,
        tables: Sequence[str] | None = None,
        hashed: Sequence[str] | None = None,
        where: str = "the project config",
    ) -> None:
        self.url = url
        self.root = root
        self.sources = list(sources)
        self._schemes_config = dict(schemes or {})
        self._tables_config = (tables, hashed)
        self.where = where
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        self._fixture: Fixture | None = None
        self._schemes: SchemeSet | None = None
        self._saved: list[tuple[str, list[str], bytes]] = []  # table, columns, COPY data: the baseline
        self._sequence_values: list[tuple[str, int]] = []  # sequence -> the value it hands out next
        self._worker: ThreadPoolExecutor | None = None
        # The state in place (the setup SQL on top of the fixture), the WAL position once it was, and its
        # rows when read; None: unknown, the next reset restores.
        self._state: tuple[str, ...] | None = None
        self._state_lsn: str | None = None
        self._state_rows: Snapshot | None = None
        self._lsn_proves: bool | None = None  # whether an unmoved WAL position proves no write (see above)
        self.restores = 0  # how many resets restored (the others were skipped: nothing had been written)

    # --- connections -------------------------------------------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url.libpq(), autocommit=True, row_factory=dict_row)
            # TRUNCATE waits for every open transaction on these tables: fail clearly rather than hang.
            self._conn.execute("SET lock_timeout = '20s'")
        return self._conn

    def _django(self, fn: Any, *args: Any) -> Any:
        # Django's work on a thread of its own: its own connection, outside the caller's transaction.
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parity-fixture")
        return self._worker.submit(fn, *args).result()

    def close(self) -> None:
        if self._worker is not None:
            from django.db import connections

            self._worker.submit(connections.close_all).result()
            self._worker.shutdown()
            self._worker = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> FixtureDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the fixture -------------------------------------------------------------------------------------

    @property
    def fixture(self) -> Fixture:
        """The fixture, loaded into the database on first use (tables checked, sources loaded)."""
        if self._fixture is None:
            self._load()
        assert self._fixture is not None
        return self._fixture

    def _load(self) -> None:
        tables, hashed = self._tables_config
        found = discover_tables(self.conn, root=self.root, tables=tables, hashed=hashed, where=self.where)
        fixture = Fixture(tables=found, csrf=self._django(Csrf.from_settings), database=self)
        self._truncate(found)
        for source in self.sources:
            try:
                declared = self._django(source.load, self.conn)
            except CutoverError:
                raise
            except Exception as exc:
                raise FixtureError(f"loading the fixture {source} failed: {described(exc)}") from None
            if declared:
                fixture.passwords.update(declared.get("passwords") or {})
                fixture.extra_secrets.update(declared.get("secrets") or ())
        self._fixture = fixture
        self._schemes = schemes_for(self._schemes_config, self.root, fixture.passwords)
        self._capture()

    def mint(self, identities: Sequence[tuple[str, str]]) -> None:
        """Mint the credentials of ``identities`` (scheme, username) not minted yet, into the fixture.

        Minting may write rows (a token, a session): the fixture is restored first, and what it holds
        afterwards becomes the fixture every later reset restores. IdentityError names what is wrong.
        """
        fixture = self.fixture
        wanted = [i for i in dict.fromkeys(identities) if i not in fixture.credentials]
        if not wanted:
            return
        assert self._schemes is not None
        self._restore()
        for scheme_name, username in wanted:
            scheme = self._schemes.get(scheme_name)
            fixture.credentials[(scheme_name, username)] = self._django(self._mint_one, scheme, username)
        self._capture()

    def _mint_one(self, scheme: Any, username: str) -> Credential:
        return mint_for(scheme, username, where="in the fixture")

    # --- reset and snapshot ------------------------------------------------------------------------------

    def _truncate(self, tables: Tables) -> None:
        if not tables.truncated:
            return
        names = sql.SQL(", ").join(sql.Identifier(t) for t in tables.truncated)
        self.conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))

    def _capture(self) -> None:
        # The baseline: every truncated table's rows as COPY data, referenced tables first.
        tables = self.fixture.tables
        saved = []
        with self.conn.cursor() as cur:
            for table in _dependency_order(self.conn, tables.truncated):
                columns = [
                    r["attname"]
                    for r in cur.execute(
                        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                        " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                        (table,),
                    ).fetchall()
                ]
                query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(table)
                )
                with cur.copy(query) as copy:
                    data = b"".join(bytes(chunk) for chunk in copy)
                if len(data) > _EMPTY_BINARY_COPY:
                    saved.append((table, columns, data))
        self._saved = saved
        values = []
        for table, column, sequence in self.fixture.tables.sequences:
            row = self.conn.execute(
                sql.SQL("SELECT COALESCE(max({}), 0) + 1 AS next FROM {}").format(
                    sql.Identifier(column), sql.Identifier(table)
                )
            ).fetchone()
            values.append((sequence, int(row["next"]) if row else 1))
        self._sequence_values = values
        self._set_sequences()
        self.fixture.rows = self._read_rows()
        self.fixture.next_ids = self._next_ids()

    def _restore(self) -> None:
        self._state = self._state_lsn = self._state_rows = None
        self.restores += 1
        tables = self.fixture.tables
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL DEFERRED")
            names = sql.SQL(", ").join(sql.Identifier(t) for t in tables.truncated)
            # Without RESTART IDENTITY: every sequence it would restart (those the tables' columns own) is
            # set past the rows below anyway, and restarting one gives it a new file (2-4 ms of the
            # demo's 27 ms TRUNCATE).
            if tables.truncated:
                cur.execute(sql.SQL("TRUNCATE {} CASCADE").format(names))
            for table, columns, data in self._saved:
                query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                    sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
                )
                with cur.copy(query) as copy:
                    copy.write(data)
            self._set_sequences(cur)

    def _set_sequences(self, cur: Any = None) -> None:
        # Every sequence past the fixture's rows, in one statement (a reset runs three times a case).
        if not self._sequence_values:
            return
        calls = sql.SQL(", ").join(sql.SQL("setval(%s, %s, false)") for _ in self._sequence_values)
        params = [p for pair in self._sequence_values for p in pair]
        (cur or self.conn).execute(sql.SQL("SELECT {}").format(calls), params)

    def _next_ids(self) -> dict[str, int]:
        out = {}
        for table, column, _ in self.fixture.tables.sequences:
            table_info = self.fixture.tables.get(table)
            if table_info is not None and table_info.key == (column,):
                row = self.conn.execute(
                    sql.SQL("SELECT COALESCE(max({}), 0) + 1 AS next FROM {}").format(
                        sql.Identifier(column), sql.Identifier(table)
                    )
                ).fetchone()
                out[table] = int(row["next"]) if row else 1
        return out

    def reset(self, setup_sql: tuple[str, ...] = ()) -> None:
        """Restore the fixture's rows and sequences, then run the case's own SQL; skipped when that state is
        in place and nothing was written since (see the module doc)."""
        self.fixture  # noqa: B018 - loaded on first use
        if self._untouched(setup_sql):
            return
        self._restore()
        if setup_sql:
            with self.conn.transaction(), self.conn.cursor() as cur:
                for statement in setup_sql:
                    cur.execute(statement.encode())
        self._settle_hint_bits()
        self._state, self._state_lsn = setup_sql, self._wal_position()
        self._state_rows = None if setup_sql else self.fixture.rows

    def _settle_hint_bits(self) -> None:
        """Read every restored row once, before the WAL position is noted. The first read of a row after
        its transaction committed sets the row's hint bits, and with data checksums or ``wal_log_hints``
        that writes WAL when the page was last logged before a checkpoint: an app's mere read would then
        look like a write, and the next reset would restore an untouched state again."""
        if self._lsn_proves is False:
            return
        with self.conn.cursor() as cur:
            for table in self.fixture.tables.truncated:
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))

    def _untouched(self, setup_sql: tuple[str, ...]) -> bool:
        """Whether the state after ``reset(setup_sql)`` is in place and nothing was written since."""
        if self._state != setup_sql or self._state_lsn is None:
            return False
        return self._wal_position() == self._state_lsn

    def _wal_position(self) -> str | None:
        if self._lsn_proves is None:
            unlogged = self.conn.execute(
                "SELECT count(*) AS n FROM pg_class"
                " WHERE oid = ANY(%s::regclass[]) AND relpersistence <> 'p'",
                (list(self.fixture.tables.truncated),),
            ).fetchone()
            self._lsn_proves = bool(unlogged is not None and unlogged["n"] == 0)
        if not self._lsn_proves:
            return None
        try:
            row = self.conn.execute("SELECT pg_current_wal_insert_lsn()::text AS lsn").fetchone()
        except psycopg.Error:  # a standby, or a server that refuses: no proof, every reset restores
            self._lsn_proves = False
            return None
        return row["lsn"] if row else None

    def snapshot(self) -> Snapshot:
        """Every row of the compared tables, keyed by table then by each row's key (the state's own rows,
        unread, when nothing was written since its reset)."""
        if self._state is not None and self._untouched(self._state):
            if self._state_rows is None:
                self._state_rows = self._read_rows()
            return self._state_rows
        return self._read_rows()

    def _read_rows(self) -> Snapshot:
        out: Snapshot = {}
        with self.conn.cursor() as cur:
            for table in self.fixture.tables.compared:
                cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table.name)))
                out[table.name] = {table.row_key(row): dict(row) for row in cur.fetchall()}
        return out


def _dependency_order(conn: Any, tables: Sequence[str]) -> list[str]:
    """``tables`` with every table after those it references (cycles: deferred constraints handle them)."""
    edges = conn.execute(
        "SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) AND confrelid = ANY(%s::regclass[])",
        (list(tables), list(tables)),
    ).fetchall()
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for edge in edges:
        child, parent = edge["child"].strip('"'), edge["parent"].strip('"')
        if child != parent and child in parents:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, deps in parents.items() if not deps - set(ordered))
        if not ready:  # a cycle
            ready = sorted(parents)[:1]
        for t in ready:
            ordered.append(t)
            del parents[t]
    return ordered


@contextmanager
def fixture_database(url: Any, **options: Any) -> Iterator[FixtureDatabase]:
    """A :class:`FixtureDatabase` on ``url``, closed on exit."""
    db = FixtureDatabase(url, **options)
    try:
        yield db
    finally:
        db.close()
