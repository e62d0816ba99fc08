"""Cases generated from the legacy API's OpenAPI schema (drf-spectacular + schemathesis/hypothesis).

The schema is the legacy's own, produced in this process by drf-spectacular; schemathesis turns each
operation into a hypothesis strategy of requests. Each operation belongs to the route of the manifest the
front door would send it to (:func:`route_for`: exact path, longest prefix, first pattern, as nginx picks
them); operations no route takes are left out and named. Drawing is deterministic for a given seed and
count, so a generated case that fails names a request that can be replayed.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import described, one_line
from .cases import Auth, Case, CaseError

__all__ = ["GeneratedCases", "SchemaError", "generated_cases", "legacy_schema", "route_for"]


class SchemaError(CaseError):
    """The OpenAPI schema cannot be had or used: one line saying why, and how to go on without it."""


# How to go on when the schema cannot be had: the written cases alone, once or for good.
WITHOUT_GENERATED = "run with --generated 0 to skip generated cases, or set [parity] generated = 0"


def route_for(routes: Sequence[Any], method: str, path: str) -> str | None:
    """The id of the manifest route the front door sends ``method path`` to; None: the default route.

    nginx's order: an exact path, then the longest prefix (prefixes win over patterns), then the first
    pattern in file order; a route covers only the methods it lists.
    """
    exact = [r for r in routes if r.match == "exact" and r.path == path]
    prefixes = [r for r in routes if r.match == "prefix" and path.startswith(r.path)]
    if exact:
        location = exact
    elif prefixes:
        longest = max(len(r.path) for r in prefixes)
        location = [r for r in prefixes if len(r.path) == longest]
    else:
        first = next((r for r in routes if r.match == "pattern" and re.search(r.path, path)), None)
        location = [r for r in routes if first is not None and (r.match, r.path) == (first.match, first.path)]
    return next((r.id for r in location if r.covers(method)), None)


@contextmanager
def _spectacular_schema_class() -> Iterator[None]:
    """drf-spectacular's ``AutoSchema`` as DRF's default schema class while the document is generated,
    when the project's ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`` is another (DRF's own, the default):
    what a team would set to use drf-spectacular, here without editing its settings. A view that names its
    own schema class keeps it (and is refused if it is not drf-spectacular's)."""
    from drf_spectacular.openapi import AutoSchema
    from rest_framework.settings import api_settings

    current = api_settings.DEFAULT_SCHEMA_CLASS
    if isinstance(current, type) and issubclass(current, AutoSchema):
        yield
        return
    api_settings.DEFAULT_SCHEMA_CLASS = AutoSchema
    try:
        yield
    finally:
        api_settings.DEFAULT_SCHEMA_CLASS = current


def legacy_schema() -> dict[str, Any]:
    """The legacy's OpenAPI document, as drf-spectacular generates it (Django must be set up)."""
    try:
        from drf_spectacular.generators import SchemaGenerator
    except ImportError:
        raise SchemaError(
            "generated cases need drf-spectacular in the legacy project, and it is not installed; "
            + WITHOUT_GENERATED
        ) from None
    try:
        with warnings.catch_warnings(), _spectacular_schema_class():
            warnings.simplefilter("ignore")
            return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-any-return]
    except Exception as exc:
        raise SchemaError(
            f"drf-spectacular refused to generate the OpenAPI schema: {described(exc)}; {WITHOUT_GENERATED}"
        ) from None


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pairs(values: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in (values or {}).items():
        for item in value if isinstance(value, list) else [value]:
            out.append((str(key), _scalar(item)))
    return tuple(out)


@dataclass(frozen=True)
class GeneratedCases:
    """The cases drawn, and the operations left out because no route of the manifest takes them."""

    cases: list[Case]
    unrouted: tuple[str, ...] = ()  # "GET /api/other/{id}/"


def _placeholder(operation: Any) -> str:
    # A concrete path for the template, to ask the manifest which route takes it.
    return re.sub(r"\{[^}]+\}", "1", operation.path)


def generated_cases(
    count: int,
    seed: int,
    *,
    routes: Sequence[Any],
    identities: Sequence[Auth] = (Auth(),),
    schema: Mapping[str, Any] | None = None,
) -> GeneratedCases:
    """``count`` cases over the schema's operations that a route of ``routes`` takes, drawn with ``seed``.

    ``identities`` are used in turn (the written cases' own, say). Integer path parameters are, three
    times in four, replaced when the case runs by a primary key of the fixture's rows, so that most
    requests find something. SchemaError when there is no schema or no operation a route takes.
    """
    if count <= 0:
        return GeneratedCases([])
    try:
        import schemathesis
    except ImportError:
        raise SchemaError(
            "generated cases need schemathesis, which is not installed: pip install schemathesis, or "
            + WITHOUT_GENERATED
        ) from None

    document = dict(schema) if schema is not None else legacy_schema()
    try:
        loaded = schemathesis.openapi.from_dict(document)
        results = list(loaded.get_all_operations())
    except Exception as exc:
        raise SchemaError(
            f"schemathesis refused the OpenAPI schema: {described(exc)}; {WITHOUT_GENERATED}"
        ) from None
    operations, unrouted = [], []
    for result in results:
        try:
            operation = result.ok()  # type: ignore[union-attr]
        except Exception as exc:  # one operation schemathesis cannot read: the others still run
            unrouted.append(f"(unreadable operation: {one_line(exc)})")
            continue
        route = route_for(routes, operation.method.upper(), _placeholder(operation))
        if route is None:
            unrouted.append(f"{operation.method.upper()} {operation.path}")
        else:
            operations.append((operation, route))
    if not operations:
        listed = ", ".join(unrouted[:5]) + (", ..." if len(unrouted) > 5 else "") if unrouted else "none"
        raise SchemaError(
            f"no operation of the OpenAPI schema is taken by a route of the manifest (operations: {listed}); "
            f"add the routes, or {WITHOUT_GENERATED}"
        )
    per_operation = math.ceil(count / len(operations))
    drawn = [_draw(operation, per_operation, seed + i) for i, (operation, _) in enumerate(operations)]
    # Round-robin over the operations, so that any count covers as many of them as it can.
    cases: list[Case] = []
    identities = tuple(identities) or (Auth(),)
    for n in range(per_operation):
        for index, ((operation, route), examples) in enumerate(zip(operations, drawn, strict=True)):
            if n < len(examples) and len(cases) < count:
                auth = identities[len(cases) % len(identities)]
                cases.append(_to_case(examples[n], operation, route, auth, seed, index, n))
    return GeneratedCases(cases, tuple(unrouted))


_MEDIA_TYPES = (None, "application/json", "application/x-www-form-urlencoded")


class _Enough(Exception):
    """Raised by the drawing test once it has what it wants: hypothesis stops there."""


def _draw(operation: Any, wanted: int, seed: int, *, stop: bool = True) -> list[Any]:
    """``wanted`` examples of ``operation`` drawn with ``seed``. Up to three times as many are tried (some
    are left out); with ``stop`` the drawing ends at the ``wanted``-th kept, since what it would draw
    after that is never kept: the same cases either way, a fifth sooner."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed

    drawn: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=wanted * 3,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,  # the stop is not a failure to print
    )
    @given(operation.as_strategy())
    def draw(example: Any) -> None:
        # Multipart bodies are left out: their random boundary would make the two requests differ.
        if len(drawn) < wanted and example.media_type in _MEDIA_TYPES:
            drawn.append(example)
        if stop and len(drawn) >= wanted:
            raise _Enough

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            draw()
        except _Enough:
            pass
    return drawn


@dataclass(frozen=True)
class _FixtureIds:
    """A hook: integer parameters become primary keys of the fixture's rows (chosen by the drawn value).
    A class, not a closure: a generated case travels between the processes of ``--jobs``."""

    template: str
    params: Mapping[str, Any]

    def __call__(self, case: Case, fixture: Any) -> Case:
        keys = fixture.integer_keys() if fixture is not None else ()
        chosen = {
            name: keys[abs(value) % len(keys)] if keys and isinstance(value, int) and value % 4 else value
            for name, value in self.params.items()
        }
        return case.with_changes(path=self.template.format(**chosen))


def _to_case(example: Any, operation: Any, route: str, auth: Auth, seed: int, index: int, n: int) -> Case:
    params = dict(example.path_parameters or {})
    integers = {k: v for k, v in params.items() if isinstance(v, int) and not isinstance(v, bool)}
    media = example.media_type
    body: dict[str, Any] = {}
    if example.body is not None and not _is_not_set(example.body):
        if media == "application/x-www-form-urlencoded" and isinstance(example.body, Mapping):
            body["form"] = _pairs(example.body)
        else:
            body["json"] = example.body
    return Case(
        id=f"gen-{seed}-{index}-{operation.method.lower()}-{n:03d}",
        route=route,
        method=operation.method.upper(),
        path=operation.path.format(**params),
        query=_pairs(example.query),
        auth=auth,
        description=f"generated: {operation.method.upper()} {operation.path}, seed {seed}",
        generated=True,
        hook=_FixtureIds(operation.path, params) if integers else None,
        **body,
    )


def _is_not_set(value: Any) -> bool:
    return type(value).__name__ == "NotSet"
