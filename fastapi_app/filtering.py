"""The list's filter backends, in the legacy's order: django-filter (``is_active``), DRF's SearchFilter
(``search``) and OrderingFilter (``ordering``). Detail routes apply them too, as DRF's ``get_object`` does.

The query string becomes a :class:`UserFilters`: its *shape* (which filters, how many search terms, which
ordering) picks the SQL statement (built once per shape in :mod:`fastapi_app.queries`), its values are the
statement's parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import validators as v
from .errors import ValidationError

__all__ = ["ORDERING_FIELDS", "SEARCH_FIELDS", "Shape", "UserFilters", "search_terms"]

SEARCH_FIELDS = ("username", "email", "first_name", "last_name")
ORDERING_FIELDS = ("id", "username", "email", "date_joined")
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


def _ordering(raw: str | None) -> tuple[str, ...]:
    """``OrderingFilter``: comma-separated keys, unknown keys dropped, the view's ``ordering`` otherwise; a
    repeated column keeps its first direction (Django's compiler drops a repeated ORDER BY column)."""
    keys: list[str] = []
    seen: set[str] = set()
    for key in (part.strip() for part in (raw or "").split(",")):
        name = key.removeprefix("-")
        if name in ORDERING_FIELDS and name not in seen:
            seen.add(name)
            keys.append(key)
    return tuple(keys) or DEFAULT_ORDERING


# (is_active filter, number of search terms, ordering keys): what the SQL text depends on.
Shape = tuple[bool | None, int, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class UserFilters:
    """``?is_active=``, ``?search=`` and ``?ordering=`` as the legacy's filter backends read them."""

    is_active: bool | None = None
    terms: tuple[str, ...] = ()
    ordering: tuple[str, ...] = DEFAULT_ORDERING

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> UserFilters:
        """Parse the query string (raises ValidationError for a NUL in the search, as SearchFilter does)."""
        if not params:
            return NO_FILTERS
        return cls(
            is_active=_boolean_widget(params.get("is_active")),
            terms=tuple(search_terms(params.get("search", ""))),
            ordering=_ordering(params.get("ordering")),
        )

    @property
    def shape(self) -> Shape:
        return (self.is_active, len(self.terms), self.ordering)

    def parameters(self) -> dict[str, Any]:
        """The statement's parameters: each term as ``icontains`` looks for it (``%term%``, escaped)."""
        return {f"term{i}": f"%{_like_escape(term)}%" for i, term in enumerate(self.terms)}


NO_FILTERS = UserFilters()
