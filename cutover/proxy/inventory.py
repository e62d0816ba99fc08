"""The route inventory: the Django URLconf, the modern app's route table and the manifest side by side.

What it finds, per route:

- ``uncovered`` (warning): a Django URL no manifest route takes; its requests fall to ``[default]``.
- ``stale`` (warning): a manifest route that matches no Django URL.
- ``not-served`` (error): a route in ``modern`` or ``canary`` whose paths the modern app does not serve;
  the move sends requests to a 404.
- ``no-traffic`` (warning): a route of the modern app no manifest route sends requests to.

Django's side is read with the project's settings set up in this process; the modern side from the
routes of the configured ASGI app (Starlette's route table, which FastAPI's is), matched as Starlette
matches a request: a path a route knows only for other methods is served (it answers 405, as Django).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..init.samples import sample_path
from ..init.urlconf import Endpoint
from ..parity.generated import route_for
from .manifest import Route

__all__ = [
    "Finding",
    "ModernRoutes",
    "endpoint_samples",
    "inventory",
    "modern_routes",
    "project_inventory",
    "samples_by_route",
    "serving_problem",
    "unserved",
]

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    level: str  # error or warning
    kind: str  # uncovered, stale, not-served, no-traffic
    subject: str  # a route id, or a path
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class ModernRoutes:
    """The modern app's route table (Starlette's), asked as Starlette asks it for a request."""

    def __init__(self, app: Any) -> None:
        routes = getattr(app, "routes", None)
        if routes is None:
            routes = getattr(getattr(app, "router", None), "routes", None)
        if routes is None:
            raise ValueError(f"{type(app).__name__} has no Starlette route table")
        self.routes = list(routes)

    def serves(self, method: str, path: str) -> bool:
        """Whether some route of the app takes ``path`` (for ``method``, or answers it with 405)."""
        return _serves(self.routes, {"type": "http", "method": method, "path": path, "root_path": ""})

    def samples(self) -> list[tuple[str, str]]:
        """``(route path, a concrete path it takes)`` for each of the app's HTTP routes."""
        return list(_samples(self.routes, ""))


def _serves(routes: Sequence[Any], scope: dict[str, Any]) -> bool:
    from starlette.routing import Match, Mount

    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount) and getattr(route, "routes", None) is not None:
            # Below a mount Starlette matches the path after its root_path, which the mount extended.
            if _serves(route.routes, {**scope, **child}):
                return True
            continue
        return True
    return False


_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}")
_SAMPLE = {
    None: "1",
    "str": "1",
    "int": "1",
    "float": "1.0",
    "path": "a/b",
    "uuid": "00000000-0000-4000-8000-000000000001",
}


def _samples(routes: Sequence[Any], prefix: str) -> list[tuple[str, str]]:
    from starlette.routing import Mount
    from starlette.routing import Route as StarletteRoute

    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Mount) and getattr(route, "routes", None) is not None:
            found += _samples(route.routes, prefix + route.path)
        elif isinstance(route, StarletteRoute):
            template = prefix + route.path
            found.append((template, _PARAM.sub(lambda m: _SAMPLE.get(m.group(2), "1"), template)))
    return found


def endpoint_samples(endpoints: Sequence[Endpoint]) -> list[tuple[Endpoint, str]]:
    """Each Django endpoint with the one sample path Django resolves to it (those that have one)."""
    return [(endpoint, path) for endpoint in endpoints if (path := sample_path(endpoint)) is not None]


def samples_by_route(
    samples: Sequence[tuple[Endpoint, str]], routes: Sequence[Route]
) -> dict[str, list[tuple[str, str]]]:
    """``route id -> [(method, path)]``: a sample request of each Django endpoint, under the manifest
    route the front door sends it to."""
    out: dict[str, list[tuple[str, str]]] = {}
    for endpoint, path in samples:
        for method in _methods(endpoint.methods):
            route_id = route_for(routes, method, path)
            if route_id is not None:
                out.setdefault(route_id, []).append((method, path))
    return out


def _methods(methods: Sequence[str]) -> list[str]:
    real = [m for m in methods if m not in ("*", "HEAD", "OPTIONS")]
    return real or ["GET"]


def unserved(route: Route, sampled: dict[str, list[tuple[str, str]]], modern: ModernRoutes) -> list[str]:
    """The sample requests of ``route`` the modern app serves no route for (three at most, then a count)."""
    requests = sampled.get(route.id) or ([("GET", route.path)] if route.match == "exact" else [])
    missing = [f"{method} {path}" for method, path in requests if not modern.serves(method, path)]
    return [*missing[:3], f"and {len(missing) - 3} more"] if len(missing) > 3 else missing


def inventory(
    endpoints: Sequence[Endpoint],
    routes: Sequence[Route],
    modern: ModernRoutes | None,
    resolves: Callable[[str], bool],
) -> list[Finding]:
    """Every finding, errors first; ``resolves(path)`` says whether Django resolves a path."""
    findings: list[Finding] = []
    samples = endpoint_samples(endpoints)
    sampled = samples_by_route(samples, routes)
    for endpoint, path in samples:
        if all(route_for(routes, method, path) is None for method in _methods(endpoint.methods)):
            findings.append(
                Finding(
                    WARNING, "uncovered", path, f"{endpoint.route}: no route takes it; it falls to [default]"
                )
            )
    for route in routes:
        if route.pinned or route.id in sampled or (route.match != "pattern" and resolves(route.path)):
            continue  # a pinned route is Django's own (its admin, its static files), resolved or not
        findings.append(
            Finding(WARNING, "stale", route.id, f"{route.match} {route.path} matches no Django URL")
        )
    if modern is not None:
        for route in routes:
            missing = unserved(route, sampled, modern) if route.mode != "legacy" else []
            if missing:
                message = f"on {route.mode}, but the modern app serves no {', '.join(missing)}"
                findings.append(Finding(ERROR, "not-served", route.id, message))
        for template, path in modern.samples():
            if all(route_for(routes, m, path) is None for m in ("GET", "POST", "PUT", "PATCH", "DELETE")):
                findings.append(
                    Finding(
                        WARNING, "no-traffic", template, "a modern route no manifest route sends requests to"
                    )
                )
    return sorted(findings, key=lambda f: f.level != ERROR)


def project_inventory(project: Any, manifest: Any) -> tuple[list[Finding], list[str]]:
    """The inventory of a project (its settings set up in this process) against ``manifest``; and notes
    on what could not be looked at."""
    from ..init.urlconf import endpoints, resolves
    from ..parity.session import configure_django

    configure_django(project, None)
    modern, notes = modern_routes(project)
    return inventory(endpoints(), manifest.routes, modern, resolves), notes


def serving_problem(project: Any, manifest: Any, route_id: str) -> str | None:
    """Why moving ``route_id`` to the modern app would send its requests to a 404, or None."""
    from ..init.urlconf import endpoints
    from ..parity.session import configure_django

    route = manifest.route(route_id)
    configure_django(project, None)
    modern, _ = modern_routes(project)
    if modern is None:
        return None
    missing = unserved(route, samples_by_route(endpoint_samples(endpoints()), manifest.routes), modern)
    return f"the modern app serves no {', '.join(missing)}" if missing else None


def modern_routes(project: Any) -> tuple[ModernRoutes | None, list[str]]:
    from ..imports import import_string

    spec = project.modern.asgi
    if spec is None:
        return None, ["no [modern] asgi in the config: the modern app's routes are not checked"]
    app = import_string(spec, project.root, what="[modern] asgi")
    try:
        return ModernRoutes(app), []
    except ValueError as exc:
        return None, [f"{spec}: {exc}: the modern app's routes are not checked"]
