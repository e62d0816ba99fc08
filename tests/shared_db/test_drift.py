"""The drift check compares shared_db.models with a database migrated by Django, and catches drift."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest

from cutover.database import django_admin
from shared_db.config import DatabaseURL
from shared_db.drift import check_drift
from shared_db.embedded import ensure_database


@pytest.fixture(scope="module")
def migrated() -> DatabaseURL:
    """A database of its own, migrated by Django's real `migrate` (the test database is left alone)."""
    server = DatabaseURL.parse(os.environ["DATABASE_URL"])
    url = ensure_database(server, f"drift_{uuid.uuid4().hex[:8]}")
    django_admin(url, "migrate", "--noinput")
    yield url
    with psycopg.connect(server.with_name("postgres").libpq(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{url.name}" WITH (FORCE)')


def alter(url: DatabaseURL, sql: str) -> None:
    with psycopg.connect(url.libpq(), autocommit=True) as conn:
        conn.execute(sql)


def test_mapping_matches_django_migrations(migrated):
    assert check_drift(migrated) == []


@pytest.mark.parametrize(
    ("drift", "undo", "expected"),
    [
        (
            "ALTER TABLE users ADD COLUMN nickname text",
            "ALTER TABLE users DROP COLUMN nickname",
            "users: column nickname TEXT in the database but not mapped",
        ),
        (
            "ALTER TABLE users ALTER COLUMN first_name TYPE varchar(100)",
            "ALTER TABLE users ALTER COLUMN first_name TYPE varchar(150)",
            "users: type first_name: database VARCHAR(length=100), mapping String(length=150) differs",
        ),
        (
            "DROP INDEX users_email_ci_uniq",
            "CREATE UNIQUE INDEX users_email_ci_uniq ON users (lower(email))",
            "users: index users_email_ci_uniq (lower(users.email)) mapped but missing from the database",
        ),
        (
            "ALTER TABLE django_session ALTER COLUMN expire_date DROP NOT NULL",
            "ALTER TABLE django_session ALTER COLUMN expire_date SET NOT NULL",
            "django_session: nullable expire_date: database True, mapping False differs",
        ),
        (
            "ALTER TABLE authtoken_token DROP CONSTRAINT authtoken_token_user_id_key",
            "ALTER TABLE authtoken_token ADD CONSTRAINT authtoken_token_user_id_key UNIQUE (user_id)",
            "authtoken_token: constraint authtoken_token_user_id_key (authtoken_token.user_id) mapped but missing from the database",
        ),
    ],
)
def test_injected_drift_is_reported(migrated, drift, undo, expected):
    alter(migrated, drift)
    try:
        assert [str(d) for d in check_drift(migrated)] == [expected]
    finally:
        alter(migrated, undo)
    assert check_drift(migrated) == []


def test_schema_check_cli_exit_codes(migrated):
    from typer.testing import CliRunner

    from cutover.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["schema", "check", "--database-url", migrated.libpq()])
    assert ok.exit_code == 0, ok.output
    assert "matches" in ok.output
    alter(migrated, "ALTER TABLE users ADD COLUMN nickname text")
    try:
        drifted = runner.invoke(app, ["schema", "check", "--database-url", migrated.libpq()])
    finally:
        alter(migrated, "ALTER TABLE users DROP COLUMN nickname")
    assert drifted.exit_code == 1
    assert "drift: users: column nickname TEXT in the database but not mapped" in drifted.output


def test_schema_check_cli_usage_errors_are_one_line():
    from typer.testing import CliRunner

    from cutover.cli import app

    result = CliRunner().invoke(app, ["schema", "check", "--database-url", "mysql://x@y/z"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "cutover: error: DATABASE_URL must be a postgresql:// URL, got scheme 'mysql'"
    ]


def test_schema_check_cli_unreachable_database_is_one_line():
    from typer.testing import CliRunner

    from cutover.cli import app

    result = CliRunner().invoke(
        app, ["schema", "check", "--database-url", "postgresql://nobody@127.0.0.1:9/none"]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cutover: error: cannot inspect the database at")
