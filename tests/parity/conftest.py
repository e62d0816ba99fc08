"""Fixtures of the parity suite: both apps in this process, on pytest-django's test database.

Parity tests are marked ``django_db`` (which creates the test database and allows access) but the engine
commits for real: Django runs on a worker thread of its own (outside the test's transaction), FastAPI on
its own connections, and the fixture is reset with explicit SQL before every run of a case.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cutover.parity.compare import load_rules
from cutover.parity.fixture import FixtureDatabase, build_fixture
from cutover.parity.redact import Redactor
from cutover.parity.runner import ParityRunner
from cutover.parity.targets import ASGITarget, WSGITarget, django_wsgi_target
from shared_db.config import DatabaseURL

from .apps import modern_app, this_run_database_url

HERE = Path(__file__).parent
CASES_DIR = HERE / "cases"
RULES_FILE = HERE / "rules.toml"


@pytest.fixture(scope="session")
def parity_database_url(django_db_setup) -> DatabaseURL:
    return this_run_database_url()


@pytest.fixture(scope="package")
def parity_database(parity_database_url: DatabaseURL) -> Iterator[FixtureDatabase]:
    db = FixtureDatabase(parity_database_url, build_fixture())
    yield db
    # Package scope: when the parity tests are done, leave the test database as the tests that follow
    # expect it (empty, sequences from 1), whatever the CLI and live tests left in it.
    db.conn.execute(
        "TRUNCATE users, authtoken_token, django_session, users_groups, users_user_permissions, "
        "django_admin_log RESTART IDENTITY CASCADE"
    )
    db.close()


@pytest.fixture(scope="package")
def legacy_target(django_db_setup) -> Iterator[WSGITarget]:
    target = django_wsgi_target()
    yield target
    target.close()


@pytest.fixture(scope="package")
def modern_target(parity_database_url: DatabaseURL) -> Iterator[ASGITarget]:
    target = ASGITarget(modern_app(), "modern")
    yield target
    target.close()  # runs the app's shutdown: its pool is disposed before the test database is dropped


@pytest.fixture(scope="package")
def parity_runner(legacy_target, modern_target, parity_database) -> ParityRunner:
    return ParityRunner(legacy_target, modern_target, parity_database, rules=load_rules(RULES_FILE))


@pytest.fixture(scope="package")
def redactor(parity_database: FixtureDatabase) -> Redactor:
    return Redactor(parity_database.fixture.secrets())
