"""The deterministic database state every case starts from.

Before each run of a case the app tables are truncated, the fixture rows are inserted with explicit ids
and identity sequences are set past them, so both apps see the same rows and assign the same next id.
The rows are computed once per process (hashing a password with Django's 1,000,000 PBKDF2 iterations
costs half a second; signed session data carries a timestamp), so every reset writes identical bytes.

The engine may import Django (only ``fastapi_app`` may not): password hashes, session data and the
session auth hash are produced by Django itself, which is what the port must accept.
"""

from __future__ import annotations

import functools
import hashlib
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from shared_db.config import DatabaseURL

__all__ = [
    "COMMON_PASSWORD",
    "CSRF_SECRET",
    "DEMO_PASSWORD",
    "TABLES",
    "Fixture",
    "FixtureDatabase",
    "build_fixture",
]

DEMO_PASSWORD = "demo-password-123"
COMMON_PASSWORD = "fixture-password-123"
CSRF_SECRET = "paritycsrfsecret0123456789ABCDEF"  # 32 characters from Django's CSRF alphabet
CSRF_MASK = "maskmaskmaskmaskmaskmaskmaskmask"  # fixed so that requests are byte-identical between runs
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)

# The tables whose rows a request may change and which the reset truncates. Tables that reference users
# (groups, permissions, admin log) are emptied too, so that deletes cascade over a known state.
TABLES = ("users", "authtoken_token", "django_session")
_TRUNCATE = (
    "TRUNCATE users, authtoken_token, django_session, users_groups, users_user_permissions, "
    "django_admin_log RESTART IDENTITY CASCADE"
)
# How each compared table's rows are identified across the two apps: not by a random primary key.
ROW_KEYS = {"users": "id", "authtoken_token": "user_id", "django_session": "session_key"}

_FIRST = [
    "Anna",
    "Bruno",
    "Céline",
    "Dávid",
    "Eamon",
    "Fiona",
    "Gaspard",
    "Hélène",
    "Iker",
    "Jörg",
    "Kai",
    "Ляля",
]
_LAST = ["Abbott", "Bjørk", "Cruz", "Dąbrowski", "Evans", "Fourie", "Gödel", "Hu", "Ishikawa", "Jones", "Kuş"]


@dataclass(frozen=True)
class FixtureUser:
    id: int
    username: str
    email: str
    first_name: str = ""
    last_name: str = ""
    is_staff: bool = False
    is_superuser: bool = False
    is_active: bool = True
    date_joined: datetime = EPOCH
    last_login: datetime | None = None
    password: str | None = COMMON_PASSWORD  # None: an unusable password
    hasher: str = "default"


def _named_users() -> list[FixtureUser]:
    def day(n: int, micro: int = 0) -> datetime:
        return EPOCH + timedelta(days=n, microseconds=micro)

    return [
        # date_joined with zero microseconds: DRF then renders no fraction at all.
        FixtureUser(1, "demo", "demo@example.com", "Demo", "Admin", is_staff=True, is_superuser=True,
                    date_joined=EPOCH, password=DEMO_PASSWORD),
        FixtureUser(2, "alice", "alice@example.com", "Alice", "Liddell", date_joined=day(1, 123456),
                    last_login=EPOCH + timedelta(days=30, seconds=5, microseconds=1)),
        FixtureUser(3, "bob", "Bob@Example.org", "Bob", "Builder", date_joined=day(2, 1)),
        FixtureUser(4, "ghost", "ghost@example.com", "Gh", "Ost", is_active=False, date_joined=day(3)),
        FixtureUser(5, "zoe", "zoe@example.com", "Zoë", "Ørsted", date_joined=day(4, 500)),
        FixtureUser(6, "percent", "percent@example.com", "100%", "lit_eral", date_joined=day(5)),
        FixtureUser(7, "nopass", "nopass@example.com", "No", "Password", password=None, date_joined=day(6)),
        # A hash from an older hasher: a successful login rewrites it with the default one.
        FixtureUser(8, "oldhash", "oldhash@example.com", "Old", "Hash", hasher="pbkdf2_sha1",
                    date_joined=day(7)),
        FixtureUser(9, "taro", "taro@example.jp", "太郎", "山田", date_joined=day(8)),
        FixtureUser(10, "staffer", "staffer@example.com", "", "", is_staff=True, date_joined=day(9)),
    ]  # fmt: skip


def _member(n: int) -> FixtureUser:
    return FixtureUser(
        id=n,
        username=f"member{n:03d}",
        # Mixed case on some: search and uniqueness are case-insensitive.
        email=f"member{n:03d}@Example.net" if n % 7 == 0 else f"member{n:03d}@example.net",
        first_name=_FIRST[n % len(_FIRST)],
        last_name=_LAST[(n * 5) % len(_LAST)],
        is_active=n % 10 != 0,
        date_joined=EPOCH + timedelta(days=10, hours=n, microseconds=977 * n),
    )


USER_COUNT = 120  # more than max_page_size (100), so the page_size cap is observable
USERS: tuple[FixtureUser, ...] = tuple(_named_users() + [_member(n) for n in range(11, USER_COUNT + 1)])
USERS_BY_NAME = {u.username: u for u in USERS}


def _token_key(name: str) -> str:
    return hashlib.sha1(f"parity-token-{name}".encode()).hexdigest()


def _session_key(name: str) -> str:
    return hashlib.sha1(f"parity-session-{name}".encode()).hexdigest()[:32]


def _tamper(value: str) -> str:
    last = "0" if value[-1] != "0" else "1"
    return value[:-1] + last


# Token credentials by identity: users with a token, and broken credentials.
TOKEN_HOLDERS = ("demo", "alice", "bob", "ghost", "zoe", "staffer")


@dataclass(frozen=True)
class SessionSpec:
    user: str
    expire: datetime = FAR_FUTURE
    stale_hash: bool = False  # _auth_user_hash from another password: the password changed since login
    foreign_key: bool = False  # signed with another SECRET_KEY


SESSION_SPECS = {
    "demo": SessionSpec("demo"),
    "alice": SessionSpec("alice"),
    "bob": SessionSpec("bob"),
    "ghost": SessionSpec("ghost"),
    "expired": SessionSpec("alice", expire=LONG_AGO),
    "stale": SessionSpec("alice", stale_hash=True),
    "forged": SessionSpec("alice", foreign_key=True),
}


@dataclass(frozen=True)
class Fixture:
    """The rows of the fixture and the credentials that cases refer to by name."""

    users: tuple[FixtureUser, ...]
    password_hashes: Mapping[str, str]  # username -> encoded hash
    tokens: Mapping[str, str]  # identity -> token key (holders, plus "unknown" and "tampered")
    sessions: Mapping[str, str]  # identity -> sessionid cookie value
    session_rows: tuple[tuple[str, str, datetime], ...]
    csrf_secret: str = CSRF_SECRET
    passwords: Mapping[str, str] = field(default_factory=dict)  # username -> raw password

    def user(self, username: str) -> FixtureUser:
        return USERS_BY_NAME[username]

    @property
    def next_user_id(self) -> int:
        return max(u.id for u in self.users) + 1

    def csrf_token(self, mode: str = "valid") -> str | None:
        """The ``X-CSRFToken`` header for a session request: masked like Django's, plain, or wrong."""
        if mode == "missing":
            return None
        if mode == "plain":
            return self.csrf_secret
        secret = self.csrf_secret if mode == "valid" else _tamper(self.csrf_secret[::-1])
        return CSRF_MASK + _cipher(secret, CSRF_MASK)

    def secrets(self) -> set[str]:
        """Every secret value of the fixture, so that a report can scrub them wherever they appear."""
        values = {self.csrf_secret, *self.tokens.values(), *self.sessions.values(), *self.passwords.values()}
        values |= {self.csrf_token("valid") or "", self.csrf_token("wrong") or ""}
        values |= set(self.password_hashes.values())
        return {v for v in values if v}


def _cipher(secret: str, mask: str) -> str:
    # django.middleware.csrf._mask_cipher_secret with a fixed mask (Django draws it at random).
    chars = string.ascii_letters + string.digits
    return "".join(
        chars[(chars.index(x) + chars.index(y)) % len(chars)] for x, y in zip(secret, mask, strict=True)
    )


@functools.cache
def build_fixture() -> Fixture:
    """The fixture, computed once per process with Django's own hashing and session encoding."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.core import signing

    salt = "paritysalt0fixed0fixture"
    hashes_by_password: dict[tuple[str, str], str] = {}
    password_hashes: dict[str, str] = {}
    passwords: dict[str, str] = {}
    for u in USERS:
        if u.password is None:
            password_hashes[u.username] = "!parityUnusablePasswordForNopass0000000000"
            continue
        wanted = (u.password, u.hasher)
        if wanted not in hashes_by_password:
            hashes_by_password[wanted] = make_password(u.password, salt=salt, hasher=u.hasher)
        password_hashes[u.username] = hashes_by_password[wanted]
        passwords[u.username] = u.password

    tokens = {name: _token_key(name) for name in TOKEN_HOLDERS}
    tokens["unknown"] = _token_key("nobody-has-this-token")
    tokens["tampered"] = _tamper(tokens["alice"])

    user_model = get_user_model()
    store = SessionStore()
    sessions: dict[str, str] = {}
    rows: list[tuple[str, str, datetime]] = []
    for identity, spec in SESSION_SPECS.items():
        user = USERS_BY_NAME[spec.user]
        auth_hash = user_model(password=password_hashes[spec.user]).get_session_auth_hash()
        if spec.stale_hash:
            auth_hash = user_model(password="pbkdf2_sha256$1$x$changed").get_session_auth_hash()
        data = {
            "_auth_user_id": str(user.id),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": auth_hash,
        }
        if spec.foreign_key:
            encoded = signing.dumps(
                data, key="not-the-secret-key-of-this-app", salt=store.key_salt,
                serializer=store.serializer, compress=True,
            )  # fmt: skip
        else:
            encoded = store.encode(data)
        key = _session_key(identity)
        sessions[identity] = key
        rows.append((key, encoded, spec.expire))
    sessions["tampered"] = _tamper(sessions["alice"])
    sessions["unknown"] = _session_key("nobody-has-this-session")
    return Fixture(
        users=USERS,
        password_hashes=password_hashes,
        tokens=tokens,
        sessions=sessions,
        session_rows=tuple(rows),
        passwords=passwords,
    )


Snapshot = dict[str, dict[str, dict[str, Any]]]


class FixtureDatabase:
    """A connection to the database both apps use, which it resets and snapshots with explicit SQL."""

    def __init__(self, url: DatabaseURL, fixture: Fixture | None = None) -> None:
        self.url = url
        self.fixture = fixture or build_fixture()
        self._conn: psycopg.Connection[dict[str, Any]] | None = None

    @property
    def conn(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url.libpq(), autocommit=True, row_factory=dict_row)
            # TRUNCATE waits for every open transaction on these tables: fail clearly rather than hang.
            self._conn.execute("SET lock_timeout = '20s'")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> FixtureDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self, setup_sql: tuple[str, ...] = ()) -> None:
        """Truncate the app tables, insert the fixture, set the sequences, run the case's own SQL."""
        fx = self.fixture
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(_TRUNCATE)
            cur.executemany(
                "INSERT INTO users (id, password, last_login, is_superuser, username, first_name,"
                " last_name, email, is_staff, is_active, date_joined)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (u.id, fx.password_hashes[u.username], u.last_login, u.is_superuser, u.username,
                     u.first_name, u.last_name, u.email, u.is_staff, u.is_active, u.date_joined)
                    for u in fx.users
                ],
            )  # fmt: skip
            cur.executemany(
                "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
                [
                    (fx.tokens[name], EPOCH + timedelta(days=60, minutes=i), USERS_BY_NAME[name].id)
                    for i, name in enumerate(TOKEN_HOLDERS)
                ],
            )
            cur.executemany(
                "INSERT INTO django_session (session_key, session_data, expire_date) VALUES (%s, %s, %s)",
                list(fx.session_rows),
            )
            cur.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))")
            for statement in setup_sql:
                cur.execute(statement.encode())

    def snapshot(self) -> Snapshot:
        """Every row of the compared tables, keyed by table then by each row's natural key."""
        out: Snapshot = {}
        with self.conn.cursor() as cur:
            for table in TABLES:
                key = ROW_KEYS[table]
                cur.execute(f"SELECT * FROM {table}")  # noqa: S608 - table names are constants
                out[table] = {str(row[key]): dict(row) for row in cur.fetchall()}
        return out


@contextmanager
def fixture_database(url: DatabaseURL) -> Iterator[FixtureDatabase]:
    """A :class:`FixtureDatabase` on ``url``, closed on exit."""
    db = FixtureDatabase(url)
    try:
        yield db
    finally:
        db.close()
