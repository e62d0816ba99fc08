"""DRF's ``PageNumberPagination`` as the legacy configures it (20 per page, ``?page_size=`` up to 100)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.requests import Request

from . import queries
from .deps import query_params
from .errors import NotFound
from .filtering import UserFilters
from .hosts import absolute_uri
from .reads import Reads, Row

__all__ = ["PAGE_SIZE", "MAX_PAGE_SIZE", "paginate", "remove_query_param", "replace_query_param"]

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def replace_query_param(url: str, key: str, val: object) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict[key] = [str(val)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query_dict.items()), doseq=True), fragment))


def remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict.pop(key, None)
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query_dict.items()), doseq=True), fragment))


def page_size(params: Any) -> int:
    """``get_page_size``: a strictly positive int (Python's ``int()``), capped at 100; else 20."""
    raw = params.get("page_size")
    if raw is None:
        return PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        return PAGE_SIZE
    if size <= 0:
        return PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def _page_number(raw: str, num_pages: int) -> int:
    # Django's Paginator.validate_number; every failure is DRF's "Invalid page."
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise NotFound("Invalid page.") from None
    if number < 1 or number > num_pages:
        raise NotFound("Invalid page.")
    return number


async def paginate(
    reads: Reads, filters: UserFilters, request: Request, render: Callable[[Row], Any]
) -> dict[str, Any]:
    """Count, pick the page and build ``{"count", "next", "previous", "results"}`` with absolute links."""
    params = query_params(request)
    size = page_size(params)
    values = filters.parameters()
    count = await reads.value(queries.count_users(filters.is_active, len(filters.terms)), values) or 0
    num_pages = math.ceil(max(1, count) / size)
    raw = params.get("page") or "1"
    number = num_pages if raw == "last" else _page_number(raw, num_pages)
    window = {"limit": size, "offset": (number - 1) * size}
    rows = await reads.rows(queries.page_of_users(*filters.shape), {**values, **window})
    url = absolute_uri(request)
    next_link = replace_query_param(url, "page", number + 1) if number < num_pages else None
    if number <= 1:
        previous = None
    elif number - 1 == 1:
        previous = remove_query_param(url, "page")
    else:
        previous = replace_query_param(url, "page", number - 1)
    return {"count": count, "next": next_link, "previous": previous, "results": [render(r) for r in rows]}
