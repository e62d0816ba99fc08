"""The users API's read statements, built with SQLAlchemy Core from the shared models, one per shape.

A statement depends only on the *shape* of a request's filters (:class:`~fastapi_app.filtering.Shape`);
the values are bind parameters. So each statement is built (and compiled, see :mod:`fastapi_app.reads`)
once per shape, not once per request, and PostgreSQL sees a handful of distinct statements that asyncpg
prepares once per connection. The same statements serve the ORM (``session.scalar(statement, params)``)
where a request goes on to write.

The SQL is what the legacy's querysets compile to on PostgreSQL: ``icontains`` is
``UPPER(column::text) LIKE UPPER(pattern)``, terms ANDed and fields ORed (SearchFilter), ``is_active IS
true/false`` (django-filter's BooleanFilter), ``count(*)`` over the filtered rows, and the page by
``LIMIT``/``OFFSET``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    union_all,
)

from shared_db.models import Token, User

from .filtering import ORDERING_FIELDS, SEARCH_FIELDS

__all__ = [
    "CACHED_TERMS",
    "TOKEN_USER",
    "count_users",
    "page_of_users",
    "token_user_and",
    "user_by_id",
    "user_by_token",
]

# Statements for searches of up to this many terms are kept (and their compiled SQL with them, see
# reads.compiled); a longer search, whose statement grows with every term, is built for its request only,
# so that a client cannot fill the cache with huge statements.
CACHED_TERMS = 8
F = TypeVar("F", bound=Callable[..., Any])


def by_shape(maxsize: int) -> Callable[[F], F]:
    """Cache a statement builder ``(is_active, terms, ...)`` per shape, up to ``CACHED_TERMS`` terms."""

    def decorate(build: F) -> F:
        cached = lru_cache(maxsize=maxsize)(build)

        @wraps(build)
        def statement(is_active: bool | None = None, terms: int = 0, *rest: Any) -> Any:
            return (cached if terms <= CACHED_TERMS else build)(is_active, terms, *rest)

        return statement  # type: ignore[return-value]

    return decorate


_COLUMNS = {name: User.__table__.c[name] for name in {*SEARCH_FIELDS, *ORDERING_FIELDS}}


def _where(is_active: bool | None, terms: int) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if is_active is not None:
        clauses.append(User.is_active.is_(is_active))
    for i in range(terms):
        pattern = func.upper(bindparam(f"term{i}", type_=User.username.type))
        clauses.append(or_(*(func.upper(_COLUMNS[name]).like(pattern) for name in SEARCH_FIELDS)))
    return clauses


@lru_cache(maxsize=1)
def user_by_token() -> Select[User]:
    """``Token.objects.select_related("user").get(key=:key).user``."""
    return select(User).join(Token, Token.user_id == User.id).where(Token.key == bindparam("key"))


@by_shape(maxsize=64)
def user_by_id(is_active: bool | None = None, terms: int = 0) -> Select[User]:
    """DRF's ``get_object``: the filtered queryset, then ``pk=:pk`` (ordering does not matter for one row)."""
    return select(User).where(*_where(is_active, terms), User.id == bindparam("pk"))


# ``token_user_and``'s rows: ``which`` is TOKEN_USER for the token's user, else the other statement's row.
TOKEN_USER = 0


@by_shape(maxsize=64)
def token_user_and(is_active: bool | None = None, terms: int = 0) -> CompoundSelect:
    """``user_by_token`` and ``user_by_id`` in one round trip, each row tagged with ``which``: 0 for the
    token's user, 1 for the looked-up one (reads.ReadAhead; docs/performance.md, "The port, four changes")."""
    token = user_by_token().add_columns(literal_column(str(TOKEN_USER)).label("which"))
    other = user_by_id(is_active, terms).add_columns(literal_column("1").label("which"))
    return union_all(token, other)


@by_shape(maxsize=64)
def count_users(is_active: bool | None, terms: int) -> Select[int]:
    """The paginator's ``count``."""
    return select(func.count()).select_from(User).where(*_where(is_active, terms))


@by_shape(maxsize=256)
def page_of_users(is_active: bool | None, terms: int, ordering: tuple[str, ...]) -> Select[User]:
    """One page of the filtered, ordered list (``:limit`` rows after ``:offset``)."""
    order = [
        _COLUMNS[key.removeprefix("-")].desc() if key.startswith("-") else _COLUMNS[key].asc()
        for key in ordering
    ]
    return (
        select(User)
        .where(*_where(is_active, terms))
        .order_by(*order)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
