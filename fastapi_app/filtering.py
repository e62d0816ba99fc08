"""The list's filter backends, in the legacy's order: django-filter (``is_active``), DRF's SearchFilter
(``search``) and OrderingFilter (``ordering``). Detail routes apply them too, as DRF's ``get_object`` does."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import Select, and_, func, or_

from shared_db.models import User

from . import validators as v
from .errors import ValidationError

__all__ = ["filter_users", "order_users", "search_terms"]

SEARCH_FIELDS = (User.username, User.email, User.first_name, User.last_name)
ORDERING_FIELDS = {
    "id": User.id,
    "username": User.username,
    "email": User.email,
    "date_joined": User.date_joined,
}
DEFAULT_ORDERING = ("id",)

# django.utils.text.smart_split_re
_SMART_SPLIT = re.compile(
    r"""
    ((?:
        [^\s'"]*
        (?:
            (?:"(?:[^"\\]|\\.)*" | '(?:[^'\\]|\\.)*')
            [^\s'"]*
        )+
    ) | \S+)
""",
    re.VERBOSE,
)


def _unescape_string_literal(s: str) -> str:
    quote = s[0]
    return s[1:-1].replace(rf"\{quote}", quote).replace(r"\\", "\\")


def search_terms(raw: str) -> list[str]:
    """``SearchFilter.get_search_terms``: validated like a ``CharField`` (NUL refused with a 400 list body),
    then DRF's ``search_smart_split`` (quoted phrases kept, commas separate terms)."""
    for check in (v.prohibit_null_characters, v.prohibit_surrogate_characters):
        if raw and (message := check(raw)):
            raise ValidationError([message])
    terms: list[str] = []
    for match in _SMART_SPLIT.finditer(raw):
        term = match[0].strip(",")
        if term.startswith(('"', "'")) and term[0] == term[-1]:
            terms.append(_unescape_string_literal(term))
        else:
            terms.extend(sub.strip() for sub in term.split(",") if sub)
    return terms


def _like_escape(term: str) -> str:
    # connection.ops.prep_for_like_query: % and _ are literal, backslash is the escape character.
    return term.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def _boolean_widget(value: str | None) -> bool | None:
    # django-filter's BooleanWidget: anything else means "no filter".
    return {"1": True, "0": False, "true": True, "false": False}.get(
        value.lower() if value is not None else ""
    )


def filter_users(query: Select, params: Mapping[str, str]) -> Select:
    """Apply ``?is_active=`` and ``?search=`` (raises ValidationError for a NUL in the search)."""
    is_active = _boolean_widget(params.get("is_active"))
    if is_active is not None:
        query = query.where(User.is_active.is_(is_active))
    terms = search_terms(params.get("search", ""))
    if terms:
        # icontains on PostgreSQL: UPPER(col::text) LIKE UPPER('%term%'); OR across fields, AND across terms.
        query = query.where(
            and_(
                *(
                    or_(
                        *(
                            func.upper(col).like(func.upper(f"%{_like_escape(term)}%"))
                            for col in SEARCH_FIELDS
                        )
                    )
                    for term in terms
                )
            )
        )
    return query


def order_users(query: Select, params: Mapping[str, str]) -> Select:
    """``OrderingFilter``: comma-separated keys, unknown keys dropped, the view's ``ordering`` otherwise."""
    raw = params.get("ordering")
    keys: list[str] = []
    if raw:
        keys = [k for k in (p.strip() for p in raw.split(",")) if k.removeprefix("-") in ORDERING_FIELDS]
    if not keys:
        keys = list(DEFAULT_ORDERING)
    clauses = []
    seen: set[str] = set()
    for key in keys:
        name = key.removeprefix("-")
        if name in seen:  # Django's compiler drops a repeated ORDER BY column
            continue
        seen.add(name)
        column = ORDERING_FIELDS[name]
        clauses.append(column.desc() if key.startswith("-") else column.asc())
    return query.order_by(*clauses)
