"""``cutover parity --legacy URL --modern URL`` against real servers (gunicorn and uvicorn on loopback).

Both servers use this run's test database. Without ``--reset-database-url`` nothing is reset (the rows
are left exactly as they were) and only safe cases run; with it, every case of the route runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.database import child_env
from cutover.parity.fixture import FixtureDatabase
from cutover.runner import Service, Supervisor, python_module
from tests.ports import free_port

from .apps import this_run_database_url
from .conftest import CASES_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def servers(django_db_setup) -> Iterator[tuple[str, str]]:
    env = child_env(this_run_database_url())
    legacy_port, modern_port = free_port(), free_port()
    legacy = f"http://127.0.0.1:{legacy_port}"
    modern = f"http://127.0.0.1:{modern_port}"
    gunicorn = python_module(
        "gunicorn", "legacy_django.wsgi:application", "--bind", f"127.0.0.1:{legacy_port}",
        "--workers", "1", "--worker-class", "gthread", "--threads", "2",
    )  # fmt: skip
    uvicorn = python_module(
        "uvicorn", "fastapi_app.main:app", "--host", "127.0.0.1", "--port", str(modern_port)
    )
    stack = [
        Service("legacy", gunicorn, env, f"{legacy}/api/users/"),
        Service("modern", uvicorn, env, f"{modern}/api/users/"),
    ]
    with Supervisor(stack):  # stopped before the test database is dropped
        yield legacy, modern


def count_cases(route_file: str) -> int:
    return sum(1 for line in (CASES_DIR / route_file).read_text().splitlines() if line == "[[cases]]")


def live(servers: tuple[str, str], tmp_path, *args: str):
    return CliRunner().invoke(
        app,
        ["parity", "--legacy", servers[0], "--modern", servers[1], "--generated", "0",
         "--report", str(tmp_path / "report.json"), *args],
    )  # fmt: skip


def users_rows() -> list[tuple]:
    with psycopg.connect(this_run_database_url().libpq()) as conn:
        return conn.execute("SELECT id, username, password FROM users ORDER BY id").fetchall()


def test_without_a_reset_database_only_safe_cases_run_and_nothing_is_reset(servers, tmp_path):
    with psycopg.connect(this_run_database_url().libpq(), autocommit=True) as conn:
        conn.execute("TRUNCATE users, authtoken_token, django_session RESTART IDENTITY CASCADE")
        conn.execute(
            "INSERT INTO users (password, last_login, is_superuser, username, first_name, last_name, email,"
            " is_staff, is_active, date_joined) VALUES ('!', NULL, false, 'bystander', '', '', 'b@example.com',"
            " false, true, now())"
        )
    before = users_rows()
    result = live(servers, tmp_path, "--route", "user-detail")
    assert result.exit_code == 0, result.output
    assert "case(s) skipped: they change state or need credentials not given" in result.stdout
    assert users_rows() == before  # never reset a database it was not pointed at


def test_credentials_for_live_mode_come_from_options(servers, tmp_path, parity_database: FixtureDatabase):
    parity_database.reset()  # the servers' database now holds the fixture users and their tokens
    (alice,) = parity_database.fixture.credential("token", "alice").secrets
    without = live(servers, tmp_path, "--route", "users-me")
    with_token = live(servers, tmp_path, "--route", "users-me", "--token", f"alice={alice}")
    assert without.exit_code == with_token.exit_code == 0, with_token.output
    ran = [int(r.stdout.split("all ")[1].split(" case")[0]) for r in (without, with_token)]
    assert ran[1] > ran[0]
    assert alice not in with_token.output and alice not in (tmp_path / "report.json").read_text()


def test_with_a_reset_database_every_case_runs(servers, tmp_path):
    result = live(
        servers, tmp_path, "--route", "users-me", "--reset-database-url", this_run_database_url().libpq()
    )
    assert result.exit_code == 0, result.output
    assert f"all {count_cases('users-me.toml')} case(s) matched" in result.stdout
    assert "skipped" not in result.stdout


def test_an_unreachable_server_fails_the_cases_not_the_command(tmp_path):
    result = CliRunner().invoke(
        app, ["parity", "--legacy", "http://127.0.0.1:9", "--modern", "http://127.0.0.1:9", "--generated", "0",
              "--route", "users-me", "--no-report"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "ConnectError" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--legacy", "ftp://x", "--modern", "http://127.0.0.1:1"],
            "legacy URL must be http(s)://host[:port]",
        ),
        (
            ["--legacy", "http://a", "--modern", "http://b", "--token", "alice"],
            "--token must be USER=VALUE",
        ),
        (
            ["--legacy", "http://a", "--modern", "http://b", "--database-url", "postgresql://x@h/d"],
            "--database-url",
        ),
        (
            [
                "--legacy",
                "http://a",
                "--modern",
                "http://b",
                "--reset-database-url",
                "postgresql://x@127.0.0.1:9/d",
            ],
            "cannot connect to postgresql://x@127.0.0.1:9/d",
        ),
    ],
)
def test_live_usage_errors_exit_2(args, message):
    result = CliRunner().invoke(app, ["parity", "--no-report", "--generated", "0", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
