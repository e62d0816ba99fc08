"""The routing manifest's routes from the project's URLconf: one route per endpoint, every one on legacy;
the admin, static and media prefixes pinned there.

An endpoint becomes an ``exact`` route when its path has no parameter, else a ``pattern`` route with the
resolver's own regex written for nginx; one nginx cannot express as Django matches it is left to the
``[default]`` route (legacy) and reported. Route ids come from URL names (namespaces joined with ``-``),
else from the path, made unique in URLconf order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .urlconf import ANY_METHOD, Endpoint, UnsupportedPattern, frontdoor_regex, literal_path

__all__ = ["Proposed", "Skipped", "propose_routes"]

_ID_CHARS = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True)
class Proposed:
    """A route as ``cutover init`` would write it."""

    id: str
    match: str
    path: str
    methods: tuple[str, ...]
    description: str
    pinned: bool = False
    comment: str = ""  # one line above the route: the Django pattern it came from
    endpoint: Endpoint | None = field(default=None, compare=False)  # None: a pinned prefix


@dataclass(frozen=True)
class Skipped:
    """An endpoint no route is written for, and why (it falls to ``[default]``, the legacy)."""

    route: str
    reason: str


def propose_routes(
    endpoints: Sequence[Endpoint], pinned_prefixes: Iterable[tuple[str, str]] = ()
) -> tuple[list[Proposed], list[Skipped]]:
    """Routes for ``endpoints`` (URLconf order) after the pinned ``(id, prefix)`` ones; what is left out."""
    routes: list[Proposed] = []
    skipped: list[Skipped] = []
    taken: set[str] = set()
    pins = [
        (route_id, prefix if prefix.startswith("/") else "/" + prefix) for route_id, prefix in pinned_prefixes
    ]
    for route_id, prefix in pins:
        routes.append(
            Proposed(
                _unique(route_id, taken), "prefix", prefix, ANY_METHOD, f"{prefix}: stays on Django", True
            )
        )
    for endpoint in endpoints:
        exact = literal_path(endpoint)
        if any((exact or "/" + endpoint.route.replace("^", "")).startswith(prefix) for _, prefix in pins):
            continue  # served under a pinned prefix
        if exact is not None:
            match, path = "exact", exact
        else:
            try:
                match, path = "pattern", frontdoor_regex(endpoint)
            except UnsupportedPattern as exc:
                skipped.append(Skipped(endpoint.route, str(exc)))
                continue
        routes.append(
            Proposed(
                id=_unique(_id_for(endpoint), taken),
                match=match,
                path=path,
                methods=endpoint.methods,
                description=endpoint.description,
                comment=f"{endpoint.route}  ({endpoint.view})",
                endpoint=endpoint,
            )
        )
    return routes, skipped


def _id_for(endpoint: Endpoint) -> str:
    source = endpoint.name.replace(":", "-") if endpoint.name else endpoint.route
    if endpoint.name and "(?P<format>" in endpoint.regex:  # DRF's format suffix of a named route
        source += "-format"
    slug = _ID_CHARS.sub("-", source.lower()).strip("-_")
    return (slug or "root")[:56]


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate
