"""Fixtures of the parity suite: both apps in this process, on pytest-django's test database.

The demo is configured for the toolkit like any project (``[tool.cutover]`` in pyproject.toml): its
fixture factory, tables and credential schemes come from there. Parity tests are marked ``django_db``
(which creates the test database and allows access) but the engine commits for real: Django runs on
worker threads of its own (outside the test's transaction), FastAPI on its own connections, and the
fixture is restored with explicit SQL before every run of a case.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cutover.config import load_config
from cutover.dburl import DatabaseURL
from cutover.parity.cases import load_cases
from cutover.parity.compare import load_rules
from cutover.parity.fixture import FixtureDatabase, parse_sources
from cutover.parity.pbkdf2_memo import memoised_pbkdf2
from cutover.parity.redact import Redactor
from cutover.parity.runner import ParityRunner
from cutover.parity.targets import ASGITarget, WSGITarget, allowed_origin, django_wsgi_target

from .apps import modern_app, this_run_database_url

HERE = Path(__file__).parent
PROJECT = load_config(HERE)
CASES_DIR = PROJECT.parity.cases
RULES_FILE = PROJECT.parity.rules


@pytest.fixture(scope="package", autouse=True)
def _pbkdf2_memoised() -> Iterator[None]:
    """PBKDF2 memoised as `cutover parity` has it in-process: the engine tests' wrong hashes (another
    password, fewer iterations) are caught under it too."""
    with memoised_pbkdf2():
        yield


def demo_fixture_database(url: DatabaseURL) -> FixtureDatabase:
    """A FixtureDatabase for the demo, from its project config."""
    return FixtureDatabase(
        url, root=PROJECT.root, sources=parse_sources(PROJECT.parity.fixture, PROJECT.root),
        schemes=PROJECT.identities, tables=PROJECT.parity.tables, hashed=PROJECT.parity.hashed,
    )  # fmt: skip


@pytest.fixture(scope="session")
def parity_database_url(django_db_setup) -> DatabaseURL:
    return this_run_database_url()


@pytest.fixture(scope="package")
def parity_database(parity_database_url: DatabaseURL, django_db_blocker) -> Iterator[FixtureDatabase]:
    db = demo_fixture_database(parity_database_url)
    try:
        with django_db_blocker.unblock():  # package scope: before any test's own access is granted
            db.fixture  # noqa: B018 - loaded now
    except BaseException:
        db.close()
        raise
    yield db
    # Package scope: when the parity tests are done, leave the test database as the tests that follow
    # expect it (empty, sequences from 1), whatever the CLI and live tests left in it.
    names = ", ".join(f'"{t}"' for t in db.fixture.tables.truncated)
    db.conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    db.close()


@pytest.fixture(autouse=True)
def _tables_emptied_when_the_package_is_done(request: pytest.FixtureRequest) -> None:
    """A test here with database access may fill this run's test database with a fixture, committed
    outside its transaction (an in-process `cutover parity --database-url`, a FixtureDatabase of its own):
    holding the package's parity database makes its teardown empty the tables before any test of another
    package runs on this worker (which would otherwise find 120 users, `alice` among them)."""
    if request.node.get_closest_marker("django_db") is not None:
        request.getfixturevalue("parity_database")


@pytest.fixture(scope="package")
def origin(django_db_setup) -> str:
    return allowed_origin()


@pytest.fixture(scope="package")
def legacy_target(django_db_setup, origin) -> Iterator[WSGITarget]:
    target = django_wsgi_target(origin=origin)
    yield target
    target.close()


@pytest.fixture(scope="package")
def modern_target(parity_database_url: DatabaseURL, origin) -> Iterator[ASGITarget]:
    target = ASGITarget(modern_app(), "modern", origin=origin)
    yield target
    target.close()  # runs the app's shutdown: its pool is disposed before the test database is dropped


@pytest.fixture(scope="package")
def parity_runner(legacy_target, modern_target, parity_database, django_db_blocker) -> ParityRunner:
    runner = ParityRunner(legacy_target, modern_target, parity_database, rules=load_rules(RULES_FILE))
    # Every identity of the suite minted up front: the fixture is the same whichever cases run.
    with django_db_blocker.unblock():
        runner.prepare(load_cases(CASES_DIR))
    return runner


@pytest.fixture(scope="package")
def redactor(parity_runner: ParityRunner) -> Redactor:
    return Redactor(parity_runner.fixture.secrets())
