"""The demo's parity fixture: a factory (``[tool.cutover.parity] fixture`` in pyproject.toml).

120 users with explicit ids (staff ``demo``, ``alice``, ``bob``, inactive ``ghost``, non-ASCII names, an
unusable password, a hash from an older hasher, ...), DRF tokens with fixed keys for some of them, and
broken sessions of ``alice`` (expired, password changed since login, signed with another key) that the
demo's own credential schemes name (``tests/parity/identities.py``). Written with the project's own
models, passwords hashed and sessions encoded by Django itself: what the port must accept.

Hashing a password with Django's 1,000,000 PBKDF2 iterations costs half a second, so hashes are computed
once per process; the toolkit loads the fixture once and restores the same rows before every run.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

DEMO_PASSWORD = "demo-password-123"
COMMON_PASSWORD = "fixture-password-123"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
UNUSABLE = "!parityUnusablePasswordForNopass0000000000"

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
NEXT_USER_ID = USER_COUNT + 1
# Users holding a DRF token in the fixture (others get one when a case authenticates with `token:`).
TOKEN_HOLDERS = ("demo", "alice", "bob", "ghost", "zoe", "staffer")
# Broken sessions, by the scheme that names them (tests/parity/identities.py); each is alice's.
BROKEN_SESSIONS = ("expired", "stale", "forged")


def token_key(name: str) -> str:
    return hashlib.sha1(f"parity-token-{name}".encode()).hexdigest()


def session_key(kind: str, username: str) -> str:
    return hashlib.sha1(f"parity-session-{kind}-{username}".encode()).hexdigest()[:32]


@functools.cache
def _hash(password: str, hasher: str) -> str:
    from django.contrib.auth.hashers import make_password

    return make_password(password, salt="paritysalt0fixed0fixture", hasher=hasher)


def build() -> dict[str, Any]:
    """Write the demo's rows with its own models; the raw passwords for the toolkit to verify against."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core import signing
    from rest_framework.authtoken.models import Token

    from cutover.parity.identities import login_session_data

    user_model = get_user_model()
    users = [
        user_model(
            id=u.id, username=u.username, email=u.email, first_name=u.first_name, last_name=u.last_name,
            is_staff=u.is_staff, is_superuser=u.is_superuser, is_active=u.is_active,
            date_joined=u.date_joined, last_login=u.last_login,
            password=UNUSABLE if u.password is None else _hash(u.password, u.hasher),
        )
        for u in USERS
    ]  # fmt: skip
    user_model.objects.bulk_create(users)
    Token.objects.bulk_create(
        [Token(key=token_key(name), user_id=USERS_BY_NAME[name].id) for name in TOKEN_HOLDERS]
    )
    for i, name in enumerate(TOKEN_HOLDERS):  # `created` is auto_now_add: set it after
        Token.objects.filter(key=token_key(name)).update(created=EPOCH + timedelta(days=60, minutes=i))

    alice = user_model.objects.get(username="alice")
    store = SessionStore()
    rows = []
    for kind in BROKEN_SESSIONS:
        data = login_session_data(alice)
        if kind == "stale":  # the hash of another password: the password changed since login
            data["_auth_user_hash"] = user_model(password="pbkdf2_sha256$1$x$changed").get_session_auth_hash()
        if kind == "forged":  # signed with another SECRET_KEY
            encoded = signing.dumps(
                data, key="not-the-secret-key-of-this-app", salt=store.key_salt,
                serializer=store.serializer, compress=True,
            )  # fmt: skip
        else:
            encoded = store.encode(data)
        expire = LONG_AGO if kind == "expired" else FAR_FUTURE
        rows.append(Session(session_key=session_key(kind, "alice"), session_data=encoded, expire_date=expire))
    Session.objects.bulk_create(rows)
    return {"passwords": {u.username: u.password for u in USERS if u.password is not None}}
