"""Shared fixtures. The database is real PostgreSQL: DATABASE_URL, else a throwaway embedded cluster
started by the ``cutover.pytest_plugin`` plugin before Django is configured."""

from __future__ import annotations

import os

# Rich sizes tables to the terminal, 80 columns where there is none (an xdist worker, a CI log): the tests
# read tables as a wide terminal shows them. Set before any of the CLI's consoles is made.
os.environ.setdefault("COLUMNS", "200")

import pytest  # noqa: E402
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from legacy_django.users.models import User

# A cheap but real Django hash for fixtures: PBKDF2 at 1,000,000 iterations costs ~0.5 s per user, so the
# fixture users share one hash computed once per run. Tests of hashing itself use the real setting.
FIXTURE_PASSWORD = "fixture-password-123"


@pytest.fixture(scope="session", autouse=True)
def _audit_log_outside_the_repository(tmp_path_factory):
    """Moves made by tests (CLI, dashboard, promote, the stacks they start) are recorded in a throwaway
    audit log, never in the repository's own .cutover/ (tests of the default location unset it)."""
    path = tmp_path_factory.mktemp("audit") / "audit.sqlite3"
    previous = os.environ.get("CUTOVER_AUDIT")
    os.environ["CUTOVER_AUDIT"] = f"sqlite:///{path}"
    yield path
    if previous is None:
        os.environ.pop("CUTOVER_AUDIT", None)
    else:
        os.environ["CUTOVER_AUDIT"] = previous


@pytest.fixture(scope="session")
def fixture_password_hash() -> str:
    from django.contrib.auth.hashers import make_password

    return make_password(FIXTURE_PASSWORD)


@pytest.fixture
def make_user(db, fixture_password_hash):
    counter = iter(range(1, 10_000))

    def make(**attrs) -> User:
        n = next(counter)
        attrs.setdefault("username", f"person{n}")
        attrs.setdefault("email", f"{attrs['username']}@example.com")
        attrs.setdefault("password", fixture_password_hash)
        return User.objects.create(**attrs)

    return make


@pytest.fixture
def token_for():
    """``token_for(user)``: the user's DRF token key, created by Django if missing."""

    def issue(user) -> str:
        return Token.objects.get_or_create(user=user)[0].key

    return issue


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
