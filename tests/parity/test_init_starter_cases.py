"""The HEAD and OPTIONS cases ``cutover init`` writes are meaningful: on the demo's port, which answers both
as Django does, they match (nothing in them fails a faithful port spuriously); on a port whose routes are
FastAPI's plain ``@app.get`` (``APIRoute`` adds no HEAD, and nothing answers OPTIONS), each is a mismatch.
"""

from __future__ import annotations

from collections.abc import Iterator
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
def head_and_options(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    root: Path = tmp_path_factory.mktemp("init-demo")
    (root / "manage.py").write_text("# the demo's manage.py\n")
    init_project(load_config(start=root, environ={}), InitOptions(users=("alice",)))
    cases = [c for c in load_cases(root / "parity" / "cases") if c.route in PORTED]
    return [c for c in cases if c.method in ("HEAD", "OPTIONS")]


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


class _GetOnlyPort:
    """The port with HEAD and OPTIONS answered by a real FastAPI app whose one route is an ``@app.get``:
    what a port written with ``@app.get`` answers them (FastAPI's 405)."""

    def __init__(self, port: Any) -> None:
        from fastapi import FastAPI

        self.port = port
        self.get_only = FastAPI()

        @self.get_only.get("/{rest:path}")
        async def read(rest: str) -> dict[str, str]:
            return {"rest": rest}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("HEAD", "OPTIONS"):
            await self.get_only(scope, receive, send)
        else:
            await self.port(scope, receive, send)


@pytest.fixture(scope="module")
def get_only_runner(legacy_target, parity_database, origin, django_db_blocker) -> Iterator[ParityRunner]:
    with django_db_blocker.unblock():
        target = ASGITarget(_GetOnlyPort(apps.modern_app()), "get-only", origin=origin)
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
