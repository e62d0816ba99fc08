"""The HEAD and OPTIONS cases ``cutover init`` writes are meaningful: on the demo's port, which answers both
as Django does, they match (nothing in them fails a faithful port spuriously); on a port whose routes are
FastAPI's plain ``@app.get`` (``APIRoute`` adds no HEAD, and nothing answers OPTIONS), each is a mismatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.config import load_config
from cutover.init.project import InitOptions, init_project
from cutover.parity.cases import Case, load_cases
from cutover.parity.render import render_result
from cutover.parity.runner import ParityRunner
from cutover.parity.targets import ASGITarget

from . import apps

pytestmark = pytest.mark.django_db

# The routes of the demo's URLconf that its port serves, as `cutover init` names them.
PORTED = {"user-list", "user-detail", "user-me", "auth-token"}


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    root: Path = tmp_path_factory.mktemp("init-demo")
    (root / "manage.py").write_text("# the demo's manage.py\n")
    init_project(load_config(start=root, environ={}), InitOptions(users=("alice",)))
    return [c for c in load_cases(root / "parity" / "cases") if c.route in PORTED]


@pytest.fixture(scope="module")
def head_and_options(starter: list[Case]) -> list[Case]:
    return [c for c in starter if c.method in ("HEAD", "OPTIONS")]


@pytest.fixture(scope="module")
def lookups(starter: list[Case]) -> list[Case]:
    return [c for c in starter if c.route == "user-detail" and c.id.startswith(("not-found", "malformed-key"))]


def test_init_writes_head_and_options_for_every_ported_route(head_and_options):
    keys = sorted(c.key for c in head_and_options)
    assert keys == sorted(
        [f"{route}/{method}{who}" for route in PORTED for method in ("head", "options") for who in ("", "-as-token-alice")
         if (route, method) != ("auth-token", "head")]  # auth-token takes POST only: no HEAD
    )  # fmt: skip


def test_they_match_on_the_faithful_port(head_and_options, parity_runner, redactor):
    results = [parity_runner.run_case(case) for case in head_and_options]
    assert [r.outcome for r in results] == ["match"] * len(results), "\n".join(
        render_result(r, redactor) for r in results if r.outcome != "match"
    )
    status = {r.case.key: r.legacy.data["status"] for r in results if r.legacy is not None}
    assert status["user-list/head"] == 401 and status["user-list/head-as-token-alice"] == 200
    assert status["user-me/options-as-token-alice"] == 200
    options = next(r.legacy for r in results if r.case.key == "user-list/options-as-token-alice")
    assert options is not None and options.data["status"] == 200
    assert {"name", "renders", "parses"} <= set(options.data["body"])  # DRF's metadata, compared


class _SplitPort:
    """The port, with the requests ``takes`` picks answered by ``other`` instead: a real FastAPI app
    written the way a porting mistake would be."""

    def __init__(self, port: Any, other: Any, takes: Callable[[dict[str, Any]], bool]) -> None:
        self.port, self.other, self.takes = port, other, takes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        app = self.other if scope["type"] == "http" and self.takes(scope) else self.port
        await app(scope, receive, send)


def _get_only_port(port: Any) -> _SplitPort:
    """HEAD and OPTIONS answered as by a port of ``@app.get`` routes (FastAPI's 405)."""
    from fastapi import FastAPI

    get_only = FastAPI()

    @get_only.get("/{rest:path}")
    async def read(rest: str) -> dict[str, str]:
        return {"rest": rest}

    return _SplitPort(port, get_only, lambda scope: scope["method"] in ("HEAD", "OPTIONS"))


@pytest.fixture(scope="module")
def get_only_runner(legacy_target, parity_database, origin, django_db_blocker) -> Iterator[ParityRunner]:
    with django_db_blocker.unblock():
        target = ASGITarget(_get_only_port(apps.modern_app()), "get-only", origin=origin)
    try:
        yield ParityRunner(legacy_target, target, parity_database, detect_noise=False)
    finally:
        with django_db_blocker.unblock():
            target.close()


def test_each_is_a_mismatch_on_a_port_that_only_answers_get(head_and_options, get_only_runner):
    results = {case.key: get_only_runner.run_case(case) for case in head_and_options}
    assert {key: r.outcome for key, r in results.items()} == dict.fromkeys(results, "mismatch")
    for result in results.values():
        assert result.modern is not None and result.modern.data["status"] == 405
        assert "status" in {d.path for d in result.mismatches}


def test_init_writes_the_lookups_anonymously_and_as_the_first_identity(lookups):
    assert sorted((c.id, c.path, str(c.auth)) for c in lookups if c.method == "GET") == [
        ("malformed-key", "/api/users/not-a-key/", "anonymous"),  # the demo's key is an integer
        ("malformed-key-as-token-alice", "/api/users/not-a-key/", "token:alice"),
        ("not-found", "/api/users/999999999/", "anonymous"),
        ("not-found-as-token-alice", "/api/users/999999999/", "token:alice"),
    ]


def test_the_lookups_match_on_the_faithful_port(lookups, parity_runner, redactor):
    results = {case.id: parity_runner.run_case(case) for case in lookups if case.method == "GET"}
    assert {k: r.outcome for k, r in results.items()} == dict.fromkeys(results, "match"), "\n".join(
        render_result(r, redactor) for r in results.values() if r.outcome != "match"
    )
    status = {k: r.legacy.data["status"] for k, r in results.items() if r.legacy is not None}
    assert status == {"not-found": 401, "malformed-key": 401, "not-found-as-token-alice": 404,
                      "malformed-key-as-token-alice": 404}  # fmt: skip


def _typed_key_port(port: Any) -> _SplitPort:
    """The detail route's key a typed FastAPI path parameter (``pk: int``) where it is no number:
    FastAPI's 422 where Django answers 404."""
    from fastapi import FastAPI

    typed = FastAPI()

    @typed.get("/api/users/{pk}/")
    async def read(pk: int) -> dict[str, int]:
        return {"pk": pk}

    def no_number(scope: dict[str, Any]) -> bool:
        parts = scope["path"].strip("/").split("/")
        return len(parts) == 3 and not parts[2].isdigit()

    return _SplitPort(port, typed, no_number)


def test_a_typed_key_on_the_port_is_a_mismatch_the_malformed_lookup_finds(
    lookups, legacy_target, parity_database, origin, django_db_blocker
):
    with django_db_blocker.unblock():
        target = ASGITarget(_typed_key_port(apps.modern_app()), "typed-key", origin=origin)
    try:
        runner = ParityRunner(legacy_target, target, parity_database, detect_noise=False)
        results = {case.id: runner.run_case(case) for case in lookups if case.method == "GET"}
    finally:
        with django_db_blocker.unblock():
            target.close()
    outcomes = {k: r.outcome for k, r in results.items()}
    assert outcomes == {"not-found": "match", "not-found-as-token-alice": "match",
                        "malformed-key": "mismatch", "malformed-key-as-token-alice": "mismatch"}  # fmt: skip
    typed = results["malformed-key-as-token-alice"]
    assert typed.modern is not None and typed.modern.data["status"] == 422
    assert "status" in {d.path for d in typed.mismatches}
