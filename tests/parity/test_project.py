"""The engine on any project, through its config: fixture sources, table discovery, credential schemes.

These run on this run's test database with the demo's models, but with fixtures, tables and schemes of
their own, as another project's config would give them. Each FixtureDatabase truncates and reloads the
tables it compares; the package's own parity fixture restores the demo's rows before each of its cases.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from cutover.config import load_config
from cutover.database import django_admin
from cutover.dburl import DatabaseURL
from cutover.embedded import embedded_database
from cutover.parity.capture import build_request
from cutover.parity.cases import Auth, Case
from cutover.parity.fixture import Factory, FixtureDatabase, FixtureError, FixtureFile, SqlFile, parse_sources
from cutover.parity.identities import IdentityError, JwtScheme
from cutover.parity.tables import TableError, discover_tables, project_tables

from .conftest import PROJECT

pytestmark = pytest.mark.django_db

USER_TABLES = ["users", "authtoken_token", "django_session"]


def user_json(pk: int, username: str, password: str = "!unusable") -> dict:
    return {
        "model": "users.user",
        "pk": pk,
        "fields": {"username": username, "email": f"{username}@example.com", "password": password,
                   "date_joined": "2024-01-01T00:00:00Z"},
    }  # fmt: skip


@contextmanager
def _opener(url: DatabaseURL) -> Iterator:
    """``make(root, entries, **options)``: a fixture database on ``url``; each one made is closed after."""
    made: list[FixtureDatabase] = []

    def make(root: Path, entries: list[str], **options) -> FixtureDatabase:
        options.setdefault("tables", USER_TABLES)
        db = FixtureDatabase(url, root=root, sources=parse_sources(entries, root), **options)
        made.append(db)
        return db

    try:
        yield make
    finally:
        for db in made:
            db.close()


@pytest.fixture
def open_database(parity_database_url, django_db_blocker) -> Iterator:
    with django_db_blocker.unblock(), _opener(parity_database_url) as make:
        yield make


# --- fixture sources ------------------------------------------------------------------------------------


def test_sources_are_told_apart_and_missing_files_refused(tmp_path):
    (tmp_path / "users.json").write_text("[]")
    (tmp_path / "rows.sql").write_text("SELECT 1;")
    (tmp_path / "factory.py").write_text("def build():\n    pass\n")
    sources = parse_sources(["users.json", "rows.sql", "factory.py:build", "some.module:build"], tmp_path)
    assert [type(s) for s in sources] == [FixtureFile, SqlFile, Factory, Factory]
    for entry, message in [
        ("absent.json", f"fixture file {tmp_path / 'absent.json'} does not exist"),
        ("absent.sql", "does not exist"),
        ("absent.py:build", "the factory's file"),
        ("readme.txt", "neither a Django fixture file"),
    ]:
        with pytest.raises(FixtureError, match=message.replace("(", r"\(")):
            parse_sources([entry], tmp_path)


def test_a_django_fixture_file_is_loaded_by_loaddata_and_restored_identically(tmp_path, open_database):
    (tmp_path / "users.json").write_text(json.dumps([user_json(5, "maria"), user_json(9, "jonas")]))
    db = open_database(tmp_path, ["users.json"])
    fixture = db.fixture
    assert sorted(fixture.rows["users"]) == ["5", "9"] and fixture.rows["authtoken_token"] == {}
    assert fixture.next_id("users") == 10  # the sequence is set past the loaded rows
    token = fixture.credential("token", "maria")  # minted by DRF, then part of the fixture
    (key,) = token.secrets
    assert token.headers == (("Authorization", f"Token {key}"),)
    db.conn.execute("DELETE FROM users WHERE id = 9")
    db.conn.execute("INSERT INTO users (username, email, password, first_name, last_name, is_staff,"
                    " is_active, is_superuser, date_joined) VALUES ('x', 'x@e.com', '!', '', '', false, true,"
                    " false, now())")  # fmt: skip
    db.reset()
    after = db.snapshot()
    assert sorted(after["users"]) == ["5", "9"] and list(after["authtoken_token"]) == [key]
    assert after == fixture.rows
    next_id = db.conn.execute("SELECT nextval(pg_get_serial_sequence('users', 'id')) AS n").fetchone()
    assert next_id is not None and next_id["n"] == 10


INSERT_X = (
    "INSERT INTO users (username, email, password, first_name, last_name, is_staff, is_active, is_superuser,"
    " date_joined) VALUES ('x', 'x@e.com', '!', '', '', false, true, false, now())"
)


def users_sql(root: Path, *users: tuple[int, str]) -> list[str]:
    """A SQL fixture of users (on the fixture's own connection: a JSON one is loaded through Django's)."""
    rows = ", ".join(
        f"({pk}, '{name}', '{name}@example.com', '!unusable', '', '', false, true, false, now())"
        for pk, name in users
    )
    (root / "users.sql").write_text(
        "INSERT INTO users (id, username, email, password, first_name, last_name, is_staff, is_active,"
        f" is_superuser, date_joined) VALUES {rows};\n"
        "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));\n"
    )
    return ["users.sql"]


@pytest.fixture(scope="module")
def quiet_database_url() -> Iterator[DatabaseURL]:
    """A database migrated by Django on a cluster of this module's own. The WAL position a reset compares
    is the cluster's, and the test run's cluster is shared with the other xdist worker, whose every write
    moves it: the skip these tests look for is seen only where no one else writes."""
    scratch = Path(tempfile.mkdtemp(prefix="cutover-quiet-pg-"))  # not under tmp_path: see pg_dir
    try:
        with embedded_database(scratch / "pgdata", name="quiet", throwaway=True) as url:
            django_admin(url, load_config(), "migrate", "--noinput")
            yield url
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def open_quiet_database(quiet_database_url) -> Iterator:
    with _opener(quiet_database_url) as make:
        yield make


def settle(db: FixtureDatabase, quiet: float = 0.5, limit: float = 20.0) -> None:
    """Wait until no session of the cluster has written WAL for ``quiet`` seconds. The position a reset
    compares is the cluster's: another session's writes (autovacuum, a checkpoint's end) make an untouched
    reset restore, which is safe but not the skip these tests look for."""

    def position() -> str:
        row = db.conn.execute("SELECT pg_current_wal_insert_lsn()::text AS lsn").fetchone()
        assert row is not None
        return str(row["lsn"])

    deadline = time.monotonic() + limit
    last, since = position(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = position()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def test_a_reset_restores_only_after_something_was_written(tmp_path, open_quiet_database):
    """Skipping a restore is safe only if every kind of write is seen: each kind below must bring one."""
    db = open_quiet_database(tmp_path, users_sql(tmp_path, (5, "maria"), (9, "jonas")))
    fixture = db.fixture
    db.reset()
    for _ in range(3):
        settle(db)
        restored = db.restores
        for _ in range(3):  # nothing written: the state is still the fixture's, nothing restored
            db.reset()
            assert db.snapshot() == fixture.rows
        if db.restores == restored:
            break
    else:
        pytest.fail("untouched resets restored on a quiet cluster, three times")

    def write(statement: str, *, rolled_back: bool = False) -> None:
        with (
            psycopg.connect(db.url.libpq(), autocommit=True) as app,
            app.transaction(force_rollback=rolled_back),
        ):
            app.execute(statement)  # as an app would, on a connection of its own

    for statement, rolled_back in [
        ("DELETE FROM users WHERE id = 9", False),
        (INSERT_X, False),
        ("UPDATE users SET email = email WHERE id = 5", False),  # a write that changes no value
        # Rolled back, but it took a value of the users' sequence: the next create would get another id.
        (INSERT_X, True),
        ("SELECT nextval(pg_get_serial_sequence('users', 'id'))", False),
    ]:
        write(statement, rolled_back=rolled_back)
        db.reset()
        assert db.restores == restored + 1, statement
        restored = db.restores
        assert db.snapshot() == fixture.rows
        next_id = db.conn.execute("SELECT nextval(pg_get_serial_sequence('users', 'id')) AS n").fetchone()
        assert next_id is not None and next_id["n"] == fixture.next_id("users") == 10, statement
        db.reset()  # that nextval was a write too
        restored = db.restores


def test_a_case_s_setup_sql_is_a_state_of_its_own(tmp_path, open_quiet_database):
    db = open_quiet_database(tmp_path, users_sql(tmp_path, (5, "maria")))
    fixture = db.fixture
    setup = ("UPDATE users SET first_name = 'Maria' WHERE id = 5",)
    db.reset(setup)
    for _ in range(3):
        settle(db)
        before, restored = db.snapshot(), db.restores
        assert before["users"]["5"]["first_name"] == "Maria"
        db.reset(setup)  # the same state, untouched: kept
        assert db.snapshot() == before
        if db.restores == restored:
            break
    else:
        pytest.fail("an untouched setup state was restored on a quiet cluster, three times")
    db.reset()  # the fixture's own state is another one: restored
    assert db.restores == restored + 1 and db.snapshot() == fixture.rows


def test_an_app_s_read_after_a_checkpoint_does_not_count_as_a_write(tmp_path, open_quiet_database, monkeypatch):
    """The first read of a committed row sets its hint bits, and when the page was last logged before the
    latest checkpoint began that writes WAL (data checksums, wal_log_hints): read after the parity CLI's
    runs, an untouched state looked written and was restored. A reset reads its rows itself before noting
    the position; here a checkpoint is made to fall between the setup and that read."""
    db = open_quiet_database(tmp_path, users_sql(tmp_path, (5, "maria")))
    db.fixture  # noqa: B018
    setup = ("UPDATE users SET first_name = 'Maria' WHERE id = 5",)
    settle_bits = db._settle_hint_bits

    def checkpoint_first() -> None:
        db.conn.execute("CHECKPOINT")
        settle_bits()

    monkeypatch.setattr(db, "_settle_hint_bits", checkpoint_first)
    db.reset(setup)
    restored = db.restores
    with psycopg.connect(db.url.libpq(), autocommit=True) as app:
        assert app.execute("SELECT first_name FROM users WHERE id = 5").fetchone() == ("Maria",)
    db.reset(setup)
    assert db.restores == restored


def test_an_unlogged_table_makes_every_reset_restore(
    tmp_path, open_database, parity_database_url, django_db_blocker
):
    """An unlogged table's sequence hands out values without writing WAL (once its first value after the
    restore's TRUNCATE was logged, which is what keeps the skip sound today): the position is not taken as
    proof there, and every reset restores, written to or not."""
    (tmp_path / "users.json").write_text(json.dumps([user_json(5, "maria")]))
    with django_db_blocker.unblock(), psycopg.connect(parity_database_url.libpq(), autocommit=True) as conn:
        conn.execute("CREATE UNLOGGED TABLE IF NOT EXISTS parity_scratch (id serial PRIMARY KEY, note text)")
    try:
        db = open_database(tmp_path, ["users.json"], tables=[*USER_TABLES, "parity_scratch"])
        db.fixture  # noqa: B018
        for _ in range(3):  # nothing written, and still restored each time
            restored = db.restores
            db.reset()
            assert db.restores == restored + 1
        with psycopg.connect(db.url.libpq(), autocommit=True, row_factory=dict_row) as other:
            taken = other.execute(
                "SELECT nextval(pg_get_serial_sequence('parity_scratch', 'id')) AS n"
            ).fetchone()
        assert taken is not None and taken["n"] == 1
    finally:
        with (
            django_db_blocker.unblock(),
            psycopg.connect(parity_database_url.libpq(), autocommit=True) as conn,
        ):
            conn.execute("DROP TABLE parity_scratch")


def test_sql_files_and_factories_load_in_order(tmp_path, open_database):
    (tmp_path / "rows.sql").write_text(
        "INSERT INTO users (id, username, email, password, first_name, last_name, is_staff, is_active,"
        " is_superuser, date_joined) VALUES (40, 'from-sql', 's@example.com', '!', '', '', false, true,"
        " false, '2024-01-01T00:00:00Z');"
    )
    (tmp_path / "factory.py").write_text(textwrap.dedent("""
        def build():
            from django.contrib.auth import get_user_model
            from django.contrib.auth.hashers import make_password

            get_user_model().objects.create(id=41, username="from-factory", email="f@example.com",
                                            password=make_password("secret-pw-1", hasher="pbkdf2_sha1"))
            return {"passwords": {"from-factory": "secret-pw-1"}, "secrets": ["an-extra-secret"]}
    """))  # fmt: skip
    db = open_database(tmp_path, ["rows.sql", "factory.py:build"])
    fixture = db.fixture
    assert sorted(fixture.rows["users"]) == ["40", "41"]
    assert fixture.passwords == {"from-factory": "secret-pw-1"}
    assert {"an-extra-secret", "secret-pw-1"} <= fixture.secrets()
    assert fixture.rows["users"]["41"]["password"] in fixture.secrets()  # hashed columns are secrets too
    basic = fixture.credential("basic", "from-factory")
    assert basic.headers[0][1].startswith("Basic ")
    with pytest.raises(IdentityError, match="basic:from-sql needs from-sql's password"):
        fixture.credential("basic", "from-sql")


def test_a_failing_factory_is_one_line_naming_it(tmp_path, open_database):
    (tmp_path / "factory.py").write_text("def build():\n    raise RuntimeError('no coffee')\n")
    db = open_database(tmp_path, ["factory.py:build"])
    with pytest.raises(
        FixtureError, match=r"loading the fixture factory.py:build failed: RuntimeError: no coffee"
    ):
        db.fixture  # noqa: B018


# --- tables ---------------------------------------------------------------------------------------------


def test_the_projects_own_tables_are_found_through_the_app_registry():
    # The demo's one app: its user model and its many-to-many tables; not django.contrib's nor DRF's.
    assert project_tables(PROJECT.root) == ["users", "users_groups", "users_user_permissions"]


def test_discovered_tables_keys_and_hashed_columns(parity_database):
    found = discover_tables(parity_database.conn, root=PROJECT.root, tables=None, hashed=None, where="test")
    assert [(t.name, t.key, t.serial) for t in found.compared] == [
        ("users", ("id",), True), ("users_groups", ("id",), True), ("users_user_permissions", ("id",), True),
    ]  # fmt: skip
    assert found.hashed == {("users", "password")} and found.user == ("users", "username")
    assert found.session == ("django_session", "session_data")
    # What references the compared tables is truncated with them (CASCADE): DRF's tokens, the admin log.
    assert {"authtoken_token", "django_admin_log"} <= set(found.truncated)
    configured = discover_tables(parity_database.conn, root=PROJECT.root, tables=["django_session"], hashed=[],
                                 where="test")  # fmt: skip
    assert [(t.name, t.key, t.serial) for t in configured.compared] == [
        ("django_session", ("session_key",), False)
    ]


@pytest.mark.parametrize(
    ("tables", "hashed", "message"),
    [
        (
            ["users", "orders"],
            None,
            "table 'orders' in [parity] tables is not in the database (not migrated?) (cfg)",
        ),
        (["users"], ["users"], "[parity] hashed 'users' must be 'table.column' (cfg)"),
        (
            ["users"],
            ["users.secret"],
            "[parity] hashed 'users.secret': table 'users' has no column 'secret' (cfg)",
        ),
    ],
)
def test_a_configured_table_or_column_missing_is_one_line(parity_database, tables, hashed, message):
    with pytest.raises(TableError) as raised:
        discover_tables(parity_database.conn, root=PROJECT.root, tables=tables, hashed=hashed, where="cfg")
    assert str(raised.value) == message


# --- credential schemes -----------------------------------------------------------------------------------


def test_token_session_and_a_project_scheme(tmp_path, open_database):
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    module = f"schemes_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent("""
        def api_key(user):
            return {"headers": {"X-Api-Key": f"key-of-{user.get_username()}-0123456789"}}

        def broken(user):
            return ["not", "a", "mapping"]
    """)
    )
    (tmp_path / "users.json").write_text(json.dumps([user_json(5, "maria")]))
    db = open_database(
        tmp_path, ["users.json"], schemes={"api-key": f"{module}:api_key", "broken": f"{module}:broken"}
    )
    fixture = db.fixture
    session = fixture.credential("session", "maria")
    ((cookie, key),) = session.cookies
    assert cookie == settings.SESSION_COOKIE_NAME and session.secrets == (key,)
    # Read on the fixture's own connection: the test's transaction must not lock the tables the reset empties.
    row = db.conn.execute("SELECT session_data FROM django_session WHERE session_key = %s", (key,)).fetchone()
    data = SessionStore().decode(row["session_data"])
    assert data["_auth_user_id"] == "5" and data["_auth_user_backend"] == settings.AUTHENTICATION_BACKENDS[0]
    assert fixture.credential("api-key", "maria").headers == (("X-Api-Key", "key-of-maria-0123456789"),)
    with pytest.raises(IdentityError, match="must return a mapping with 'headers' and/or 'cookies'"):
        fixture.credential("broken", "maria")
    with pytest.raises(IdentityError, match=r"identity token:nobody: no user 'nobody' in the fixture"):
        fixture.credential("token", "nobody")
    with pytest.raises(IdentityError, match="unknown credential scheme 'oauth'"):
        fixture.credential("oauth", "maria")

    # A cookie-authenticated unsafe request carries the project's CSRF cookie and header.
    post = Case(id="c", route="r", method="POST", path="/x/", auth=Auth("session", "maria"))
    headers = dict(build_request(post, fixture).headers)
    assert (
        headers["Cookie"]
        == f"{settings.SESSION_COOKIE_NAME}={key}; {settings.CSRF_COOKIE_NAME}={fixture.csrf.secret}"
    )
    assert headers["X-Csrftoken"] == fixture.csrf.token("valid") != fixture.csrf.secret
    missing = post.with_changes(auth=Auth("session", "maria", "missing"))
    assert "X-Csrftoken" not in dict(build_request(missing, fixture).headers)
    token = build_request(post.with_changes(auth=Auth("token", "maria")), fixture).headers
    assert [name for name, _ in token] == ["Authorization"]  # a header credential: no CSRF


def test_jwt_is_simplejwts_access_token_or_one_line_when_it_is_absent(tmp_path, open_database):
    try:
        import rest_framework_simplejwt  # noqa: F401
    except ImportError:
        with pytest.raises(IdentityError) as raised:
            JwtScheme()
        assert (
            str(raised.value) == "the jwt scheme needs djangorestframework-simplejwt, which is not installed"
        )
        return
    from rest_framework_simplejwt.tokens import AccessToken

    (tmp_path / "users.json").write_text(json.dumps([user_json(5, "maria")]))
    fixture = open_database(tmp_path, ["users.json"]).fixture
    ((header, value),) = fixture.credential("jwt", "maria").headers
    kind, token = value.split(" ", 1)
    assert (header, kind) == ("Authorization", "Bearer") and AccessToken(token)["user_id"] in (5, "5")
