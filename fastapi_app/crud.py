"""The users API's reads and writes on the tables Django owns, with Django's semantics.

Django's ORM sets Python-side defaults (``is_active``, ``date_joined``...) and cascades deletes in Python;
neither exists in the database, so both are spelled out here.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared_db.models import AdminLogEntry, Session, Token, User, user_groups, user_permissions

from .compat import make_password

__all__ = [
    "BIGINT_MAX",
    "BIGINT_MIN",
    "create_user",
    "delete_user",
    "email_taken",
    "get_or_create_token",
    "storable",
    "username_taken",
]

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def storable(value: str) -> bool:
    """Whether PostgreSQL can hold ``value``: psycopg refuses NUL and lone surrogates, and Django turns that
    error into "no such row" (DRF's ``qs_exists``, a token lookup)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def now() -> datetime:
    return datetime.now(UTC)


async def username_taken(db: AsyncSession, username: str, exclude_id: int | None = None) -> bool:
    """DRF's ``UniqueValidator`` on ``username`` (exact match, the instance itself excluded)."""
    if not storable(username):
        return False
    query = select(User.id).where(User.username == username)
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return (await db.scalar(query.limit(1))) is not None


async def email_taken(db: AsyncSession, email: str, exclude_id: int | None = None) -> bool:
    """``User.objects.filter(email__iexact=email)``: ``UPPER(email::text) = UPPER(%s)`` on PostgreSQL."""
    if not storable(email):
        return False
    query = select(User.id).where(func.upper(User.email) == func.upper(email))
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return (await db.scalar(query.limit(1))) is not None


async def create_user(db: AsyncSession, fields: dict[str, str], password: str) -> User:
    """``User(**validated_data); set_password(); save()``: every column Django's defaults set."""
    user = User(
        username=fields["username"],
        email=fields["email"],
        first_name=fields.get("first_name", ""),
        last_name=fields.get("last_name", ""),
        is_active=True,
        is_staff=False,
        is_superuser=False,
        date_joined=now(),
        last_login=None,
        password="",
    )
    user.password = await make_password(password)
    db.add(user)
    await db.flush()
    return user


async def delete_user(db: AsyncSession, user_id: int) -> None:
    """``user.delete()``: Django's collector removes the rows pointing at the user, then the user."""
    await db.execute(delete(Token).where(Token.user_id == user_id))
    await db.execute(delete(user_groups).where(user_groups.c.user_id == user_id))
    await db.execute(delete(user_permissions).where(user_permissions.c.user_id == user_id))
    await db.execute(delete(AdminLogEntry).where(AdminLogEntry.user_id == user_id))
    await db.execute(delete(User).where(User.id == user_id))


async def get_or_create_token(db: AsyncSession, user_id: int) -> str:
    """``Token.objects.get_or_create(user=user)``; a new key is ``secrets.token_hex(20)`` as DRF makes it."""
    key = await db.scalar(select(Token.key).where(Token.user_id == user_id))
    if key is not None:
        return key
    # A concurrent request may create it first: the unique user_id decides, as Django's IntegrityError retry.
    await db.execute(
        pg_insert(Token)
        .values(key=secrets.token_hex(20), created=now(), user_id=user_id)
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    key = await db.scalar(select(Token.key).where(Token.user_id == user_id))
    assert key is not None
    return key


async def set_password_hash(db: AsyncSession, user_id: int, encoded: str) -> None:
    """``user.save(update_fields=["password"])``."""
    await db.execute(update(User).where(User.id == user_id).values(password=encoded))


async def delete_session(db: AsyncSession, session_key: str) -> None:
    await db.execute(delete(Session).where(Session.session_key == session_key))


async def insert_session(db: AsyncSession, session_key: str, data: str, expire_date: datetime) -> bool:
    """``SessionStore.save(must_create=True)``: ``False`` when the key is taken (Django's ``CreateError``,
    after which ``SessionStore.create`` tries another key)."""
    inserted = await db.scalar(
        pg_insert(Session)
        .values(session_key=session_key, session_data=data, expire_date=expire_date)
        .on_conflict_do_nothing(index_elements=["session_key"])
        .returning(Session.session_key)
    )
    return inserted is not None
