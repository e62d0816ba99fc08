"""Cases generated from the legacy API's OpenAPI schema (drf-spectacular + schemathesis/hypothesis).

The schema is the legacy's own, produced in this process; schemathesis turns each operation into a
hypothesis strategy of requests. Drawing is deterministic for a given seed and count, so a generated case
that fails names a request that can be replayed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from .cases import Auth, Case

__all__ = ["ROUTE_OF_PATH", "generated_cases", "legacy_schema"]

# OpenAPI path -> route id of migration_notes/routes.toml.
ROUTE_OF_PATH = {
    "/api/auth/token/": "auth-token",
    "/api/users/": "users",
    "/api/users/{id}/": "user-detail",
    "/api/users/me/": "users-me",
}
# Ids drawn for {id}: mostly users of the fixture (the interesting answers), sometimes anything.
_FIXTURE_IDS = (1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 20, 120)
_IDENTITIES = (
    Auth("token", "alice"),
    Auth("token", "demo"),
    Auth(),
    Auth("session", "bob"),
    Auth("token", "bob"),
)


def legacy_schema() -> dict[str, Any]:
    """The legacy's OpenAPI document, as drf-spectacular serves it at ``/api/schema/``."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-any-return]


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


def generated_cases(count: int, seed: int, *, schema: dict[str, Any] | None = None) -> list[Case]:
    """``count`` cases (spread over the schema's operations) drawn with ``seed``."""
    if count <= 0:
        return []
    import schemathesis

    loaded = schemathesis.openapi.from_dict(schema or legacy_schema())
    operations = [result.ok() for result in loaded.get_all_operations()]  # type: ignore[union-attr]
    operations = [op for op in operations if op.path in ROUTE_OF_PATH]
    per_operation = math.ceil(count / len(operations))
    drawn = [_draw(operation, per_operation, seed + i) for i, operation in enumerate(operations)]
    # Round-robin over the operations, so that any count covers as many of them as it can.
    cases: list[Case] = []
    for n in range(per_operation):
        for operation, examples in zip(operations, drawn, strict=True):
            if n < len(examples) and len(cases) < count:
                cases.append(_to_case(examples[n], operation, seed, n, len(cases)))
    return cases


_MEDIA_TYPES = (None, "application/json", "application/x-www-form-urlencoded")


def _draw(operation: Any, wanted: int, seed: int) -> list[Any]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    drawn: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=wanted * 3,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy())
    def draw(example: Any) -> None:
        # Multipart bodies are left out: their random boundary would make the two requests differ.
        if len(drawn) < wanted and example.media_type in _MEDIA_TYPES:
            drawn.append(example)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        draw()
    return drawn


def _to_case(example: Any, operation: Any, seed: int, n: int, serial: int) -> Case:
    params = dict(example.path_parameters or {})
    if "id" in params:
        raw = params["id"]
        params["id"] = _FIXTURE_IDS[abs(int(raw)) % len(_FIXTURE_IDS)] if int(raw) % 4 else raw
    path = operation.path.format(**params)
    media = example.media_type
    body: dict[str, Any] = {}
    if example.body is not None and not _is_not_set(example.body):
        if media == "application/x-www-form-urlencoded" and isinstance(example.body, Mapping):
            body["form"] = _pairs(example.body)
        else:
            body["json"] = example.body
    return Case(
        id=f"gen-{seed}-{operation.method.lower()}-{n:03d}",
        route=ROUTE_OF_PATH[operation.path],
        method=operation.method.upper(),
        path=path,
        query=_pairs(example.query),
        auth=_IDENTITIES[serial % len(_IDENTITIES)],
        description=f"generated: {operation.method.upper()} {operation.path}, seed {seed}",
        generated=True,
        **body,
    )


def _is_not_set(value: Any) -> bool:
    return type(value).__name__ == "NotSet"
