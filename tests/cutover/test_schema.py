"""`cutover schema check`: the port's SQLAlchemy mapping (the demo's shared_db.models here, any project's
through --models or [schema] models) against a database migrated by Django; injected drift is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, MetaData, String, Table
from typer.testing import CliRunner

from cutover.cli import app
from cutover.dburl import DatabaseURL
from cutover.schema.drift import check_drift as check_metadata
from shared_db.models import Base
from tests.cutover.conftest import alter

# A mapping of a table Django's migrations never create: a check must not call it a match.
NOT_DJANGOS = MetaData()
Table("not_in_django", NOT_DJANGOS, Column("id", Integer, primary_key=True))


def check_drift(url: DatabaseURL):
    return check_metadata(url, Base.metadata)


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
        (
            # Django makes every key DEFERRABLE INITIALLY DEFERRED: one line saying so, not a removal and an
            # addition of the same key
            "ALTER TABLE authtoken_token ALTER CONSTRAINT authtoken_token_user_id_35299eff_fk_users_id"
            " NOT DEFERRABLE",
            "ALTER TABLE authtoken_token ALTER CONSTRAINT authtoken_token_user_id_35299eff_fk_users_id"
            " DEFERRABLE INITIALLY DEFERRED",
            "authtoken_token: fk authtoken_token_user_id_35299eff_fk_users_id (user_id -> users.id): database"
            " NOT DEFERRABLE, mapping DEFERRABLE INITIALLY DEFERRED differs",
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
    result = CliRunner().invoke(app, ["schema", "check", "--database-url", "mysql://x@y/z"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "cutover: error: DATABASE_URL must be a postgresql:// URL, got scheme 'mysql'"
    ]


def test_schema_check_cli_unreachable_database_is_one_line():
    result = CliRunner().invoke(
        app, ["schema", "check", "--database-url", "postgresql://nobody@127.0.0.1:9/none"]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cutover: error: cannot connect to the database at")


def test_a_mapping_of_tables_django_never_made_is_drift_not_a_match(migrated):
    result = CliRunner().invoke(
        app,
        [
            "schema",
            "check",
            "--models",
            "tests.cutover.test_schema:NOT_DJANGOS",
            "--database-url",
            migrated.libpq(),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "drift: not_in_django: table mapped but missing from the database" in result.output


def test_without_a_database_a_throwaway_one_is_migrated_by_the_legacy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written here (no .data/, no developer database)
    monkeypatch.delenv("DATABASE_URL")
    config = Path(__file__).parents[2] / "pyproject.toml"
    result = CliRunner().invoke(app, ["--config", str(config), "schema", "check"])
    assert result.exit_code == 0, result.output
    assert "schema: shared_db.models:Base matches the database" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            "nowhere.models:Base",
            "the SQLAlchemy mapping: cannot import 'nowhere.models': ModuleNotFoundError",
        ),
        ("shared_db.models:Nothing", "the SQLAlchemy mapping: 'shared_db.models' has no attribute 'Nothing'"),
        (
            "shared_db.models:User.__tablename__",
            "the SQLAlchemy mapping shared_db.models:User.__tablename__: 'users' is neither",
        ),
    ],
)
def test_a_mapping_that_cannot_be_had_is_one_line(models, message):
    result = CliRunner().invoke(
        app, ["schema", "check", "--models", models, "--database-url", "postgresql://x@127.0.0.1:9/y"]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cutover: error: {message}"), lines


def test_no_mapping_configured_is_one_line(tmp_path):
    config = tmp_path / "cutover.toml"
    config.write_text("")
    result = CliRunner().invoke(app, ["--config", str(config), "schema", "check"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"cutover: error: no SQLAlchemy mapping to check: pass --models module:Base or set [schema] models in {config}"
    )


def test_a_hand_written_key_without_django_s_options_is_one_line_naming_them(migrated):
    """A mapping written by hand: the key unnamed and not deferrable, where Django's is both."""
    metadata = MetaData()
    Base.metadata.tables["users"].to_metadata(metadata)
    Table(
        "authtoken_token", metadata,
        Column("key", String(40), primary_key=True),
        Column("created", DateTime(timezone=True), nullable=False),
        Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, unique=True),
    )  # fmt: skip
    keys = [str(d) for d in check_metadata(migrated, metadata) if ": fk " in str(d)]  # its indexes aside
    assert keys == [
        "authtoken_token: fk authtoken_token_user_id_35299eff_fk_users_id (user_id -> users.id): database"
        " DEFERRABLE INITIALLY DEFERRED, mapping NOT DEFERRABLE differs"
    ]
