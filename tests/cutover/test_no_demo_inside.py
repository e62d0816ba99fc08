"""Nothing of the demo inside the toolkit: no module under ``cutover/`` names the demo's packages, one of
its route ids, one of its fixture users or its API's paths. The demo is one project configured like any
other (pyproject.toml's [tool.cutover]); what the toolkit knows of it, it reads from there."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
TOOLKIT = REPO / "cutover"
# The demo's packages, and the second example's (examples/catalog/), which the toolkit must not know either.
DEMO_PACKAGES = re.compile(r"\b(legacy_django|fastapi_app|shared_db|catalog_site|catalog_api)\b")
DEMO_PATHS = re.compile(r"/api/(users|auth)\b")


def demo_names() -> set[str]:
    """The demo's route ids and fixture usernames, from the demo itself; less the words of the toolkit's
    own manifest format (the fixture's user "percent" is also a route's canary field) and of Django's."""
    from dataclasses import fields

    from cutover.proxy.manifest import Route
    from tests.parity.fixture_demo import USERS

    names = {user.username for user in USERS}
    for manifest in (REPO / "migration_notes" / "routes.toml", REPO / "examples" / "catalog" / "routes.toml"):
        names |= {route["id"] for route in tomllib.loads(manifest.read_text())["routes"]}
    # The demo's pinned routes are named for Django's own admin site and static files, which the toolkit
    # knows in every project (cutover init pins them).
    return names - {field.name for field in fields(Route)} - {"admin", "static", "media"}


def findings(source: str, names: set[str]) -> list[str]:
    """What in one module's source names the demo: its packages or paths anywhere (comments too), its
    route ids and users as string literals (a word in prose is not a reference)."""
    found = [f"line {n}: {m.group(0)}" for n, line in enumerate(source.splitlines(), 1) for m in
             [*DEMO_PACKAGES.finditer(line), *DEMO_PATHS.finditer(line)]]  # fmt: skip
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            found.append(f"line {node.lineno}: {node.value!r}")
    return found


def test_the_demo_names_are_known():
    names = demo_names()
    assert {"user-detail", "users-me", "demo", "alice", "product-detail"} <= names


@pytest.mark.parametrize(
    "source",
    [
        "from legacy_django.users.models import User\n",
        "# served like fastapi_app does\nX = 1\n",
        'ROUTES = ("users", "user-detail")\n',
        'USERNAME = "demo"\n',
        'URL = "http://x/api/users/1/"\n',
    ],
)
def test_the_check_catches_a_module_that_names_the_demo(source):
    assert findings(source, demo_names())


def test_the_check_passes_prose_and_other_names():
    source = '"""A demo of nothing in particular: users and their details."""\nNAME = "detail"\n'
    assert findings(source, demo_names()) == []


def test_no_module_of_the_toolkit_names_the_demo():
    names = demo_names()
    offenders = {
        str(path.relative_to(REPO)): found
        for path in sorted(TOOLKIT.rglob("*"))
        if path.suffix in (".py", ".lua") and "__pycache__" not in path.parts
        for found in [
            findings(path.read_text(), names)
            if path.suffix == ".py"
            else [
                f"line {n}: {m.group(0)}"
                for n, line in enumerate(path.read_text().splitlines(), 1)
                for m in DEMO_PATHS.finditer(line)
            ]
        ]  # fmt: skip
        if found
    }
    assert offenders == {}
