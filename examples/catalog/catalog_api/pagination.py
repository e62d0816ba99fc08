"""``products.pagination.CatalogPagination``: DRF's LimitOffsetPagination, 10 a page, at most 50."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.requests import Request

from .hosts import absolute_uri

__all__ = ["Page", "limit_of", "page_of"]

DEFAULT_LIMIT = 10
MAX_LIMIT = 50


def _positive_int(text: str, strict: bool = False, cutoff: int | None = None) -> int:
    number = int(text)
    if number < 0 or (number == 0 and strict):
        raise ValueError(text)
    return min(number, cutoff) if cutoff else number


def _replace_query_param(url: str, key: str, value: Any) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict[key] = [str(value)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query_dict.items()), doseq=True), fragment))


def _remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict.pop(key, None)
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query_dict.items()), doseq=True), fragment))


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int
    count: int

    @property
    def empty(self) -> bool:
        """No query for the rows: DRF returns [] when there are none or the offset is past them."""
        return self.count == 0 or self.offset > self.count

    def body(self, request: Request, results: list[Any]) -> dict[str, Any]:
        return {
            "count": self.count,
            "next": self._next(request),
            "previous": self._previous(request),
            "results": results,
        }

    def _next(self, request: Request) -> str | None:
        if self.offset + self.limit >= self.count:
            return None
        url = _replace_query_param(absolute_uri(request), "limit", self.limit)
        return _replace_query_param(url, "offset", self.offset + self.limit)

    def _previous(self, request: Request) -> str | None:
        if self.offset <= 0:
            return None
        url = _replace_query_param(absolute_uri(request), "limit", self.limit)
        if self.offset - self.limit <= 0:
            return _remove_query_param(url, "offset")
        return _replace_query_param(url, "offset", self.offset - self.limit)


def limit_of(request: Request) -> int:
    try:
        return _positive_int(request.query_params["limit"], strict=True, cutoff=MAX_LIMIT)
    except (KeyError, ValueError):
        return DEFAULT_LIMIT


def offset_of(request: Request) -> int:
    try:
        return _positive_int(request.query_params["offset"])
    except (KeyError, ValueError):
        return 0


def page_of(request: Request, count: int, limit: int) -> Page:
    """DRF reads the limit, counts, then reads the offset (the order matters only for errors)."""
    return Page(limit=limit, offset=offset_of(request), count=count)
