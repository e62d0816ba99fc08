"""`cutover schema map` on the demo: the module it writes passes `cutover schema check` on a database Django
migrated, agrees with the hand-written shared_db.models, is ruff-clean, and an edit of it is caught; the
database disagreeing with the models is reported, not guessed; mistakes are one line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy.dialects import postgresql
from typer.testing import CliRunner

from cutover.cli import app
from cutover.schema.drift import check_drift
from cutover.schema.generate import line_length_for
from shared_db.models import Base as HandWritten
from tests.cutover.conftest import alter

DEMO_TABLES = "users,users_groups,users_user_permissions,authtoken_token,django_session,django_admin_log"
RUFF = Path(sys.executable).parent / "ruff"


def schema_map(*args: str):
    return CliRunner().invoke(app, ["schema", "map", *args], terminal_width=300)


def load(path: Path) -> ModuleType:
    name = f"generated_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # SQLAlchemy resolves the annotations in the module's namespace
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(migrated, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("map") / "demo_models.py"
    result = schema_map("--output", str(output), "--tables", DEMO_TABLES, "--database-url", migrated.libpq())
    assert result.exit_code == 0, result.output
    assert f"wrote {output}: 6 tables" in result.output
    return output


def test_the_generated_mapping_has_no_drift(migrated, generated):
    assert check_drift(migrated, load(generated).Base.metadata) == []


def test_the_generated_mapping_agrees_with_the_hand_written_one(generated):
    ours = load(generated).Base.metadata
    assert set(ours.tables) == set(HandWritten.metadata.tables)
    dialect = postgresql.dialect()

    def shape(table):
        return {
            "columns": [
                (c.name, c.type.compile(dialect=dialect), c.nullable, c.primary_key, c.identity is not None)
                for c in sorted(table.columns, key=lambda c: c.name)
            ],
            "foreign_keys": sorted(
                (fk.name, fk.parent.name, fk.target_fullname, fk.deferrable, fk.initially, fk.ondelete)
                for fk in table.foreign_keys
            ),
            "indexes": sorted((i.name, i.unique) for i in table.indexes),
            "constraints": sorted(
                (type(c).__name__, c.name) for c in table.constraints if c.name and "pkey" not in c.name
            ),
        }

    for name, table in HandWritten.metadata.tables.items():
        assert shape(ours.tables[name]) == shape(table), name


def test_python_side_defaults_are_comments_for_the_port(generated):
    text = generated.read_text()
    assert (
        "# Django's default is True, applied in Python: the database has no default\n    is_active:" in text
    )
    assert "(auto_now_add); the database does not\n    created: Mapped[datetime]" in text
    assert "references auth_group.id" in text  # a key to a table not mapped: said, not dropped silently


def test_the_generated_module_is_ruff_clean(generated, tmp_path):
    # No ruff config above tmp_path: ruff's defaults (88 columns), and the repository's rules.
    assert line_length_for(generated) == 88
    for command in (["format", "--check", "--isolated"], ["check", "--isolated", "--select", "E,F,I,B,UP"]):
        done = subprocess.run([str(RUFF), *command, str(generated)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_line_length_is_the_nearest_ruff_configs(migrated, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 110\n")
    output = tmp_path / "pkg" / "models.py"
    result = schema_map("--output", str(output), "--tables", DEMO_TABLES, "--database-url", migrated.libpq())
    assert result.exit_code == 0, result.output
    assert line_length_for(output) == 110
    assert any(len(line) > 88 for line in output.read_text().splitlines())
    for command in (["format", "--check"], ["check", "--select", "E,F,I,B,UP"]):
        done = subprocess.run(
            [str(RUFF), *command, str(output)], capture_output=True, text=True, cwd=tmp_path
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_an_edited_column_in_the_generated_module_is_drift(migrated, generated, tmp_path):
    text = generated.read_text()
    line = "    first_name: Mapped[str] = mapped_column(String(150))\n"
    assert line in text
    edited = tmp_path / "edited_models.py"
    edited.write_text(text.replace(line, line.replace("150", "100")))
    assert [str(d) for d in check_drift(migrated, load(edited).Base.metadata)] == [
        "users: type first_name: database VARCHAR(length=150), mapping String(length=100) differs"
    ]


def test_by_default_the_configs_parity_tables_are_mapped(migrated, tmp_path):
    output = tmp_path / "models.py"
    result = schema_map("--output", str(output), "--database-url", migrated.libpq())
    assert result.exit_code == 0, result.output
    assert (
        "5 tables (users, users_groups, users_user_permissions, authtoken_token, django_session)"
        in result.output
    )
    module = load(output)
    assert check_drift(migrated, module.Base.metadata) == []
    assert [t for t in module.__all__ if t[0].islower()] == ["users_groups", "users_user_permissions"]


@pytest.mark.parametrize(
    ("drift", "undo", "expected"),
    [
        (
            "ALTER TABLE users ADD COLUMN nickname text",
            "ALTER TABLE users DROP COLUMN nickname",
            [
                "users: column nickname is in the database but no field of users.User has it (a migration not in the code?)"
            ],
        ),
        (
            "ALTER TABLE django_session DROP COLUMN expire_date",
            "ALTER TABLE django_session ADD COLUMN expire_date timestamp with time zone NOT NULL",
            [
                "django_session: column expire_date of sessions.Session.expire_date is not in the database (a migration not applied?)"
            ],
        ),
        (
            "ALTER TABLE users ALTER COLUMN first_name TYPE varchar(100), ALTER COLUMN email DROP NOT NULL",
            "ALTER TABLE users ALTER COLUMN first_name TYPE varchar(150), ALTER COLUMN email SET NOT NULL",
            [
                "users: column first_name is VARCHAR(100) in the database, the model says VARCHAR(150)",
                "users: column email is NULL in the database, the model says null=False",
            ],
        ),
        (
            "ALTER TABLE authtoken_token RENAME TO authtoken_token_old",
            "ALTER TABLE authtoken_token_old RENAME TO authtoken_token",
            ["authtoken_token: table of authtoken.Token is not in the database (a migration not applied?)"],
        ),
    ],
)
def test_a_database_that_disagrees_with_the_models_is_reported_not_mapped(
    migrated, tmp_path, drift, undo, expected
):
    output = tmp_path / "models.py"
    alter(migrated, drift)
    try:
        result = schema_map(
            "--output", str(output), "--tables", DEMO_TABLES, "--database-url", migrated.libpq()
        )
    finally:
        alter(migrated, undo)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines == [
        *(f"disagrees: {e}" for e in expected),
        f"{len(expected)} disagreement(s) between the models and the database: nothing written to {output}",
    ]
    assert not output.exists()


def test_an_unknown_table_is_one_line_before_any_database(tmp_path):
    # The database named does not exist: the mistake is found before it is needed.
    result = schema_map(
        "--output",
        str(tmp_path / "m.py"),
        "--tables",
        "users,nope",
        "--database-url",
        "postgresql://x@127.0.0.1:9/y",
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "cutover: error: unknown table 'nope' in --tables: no model of the project's installed apps has it"
    ]


def test_a_folder_that_is_no_django_project_is_one_line(tmp_path):
    config = tmp_path / "cutover.toml"
    config.write_text("")
    result = CliRunner().invoke(
        app, ["--config", str(config), "schema", "map", "--output", str(tmp_path / "m.py")]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"cutover: error: {tmp_path} is not a Django project: no manage.py and no [legacy] settings"
    )


def test_output_must_be_a_python_module(tmp_path):
    result = schema_map("--output", str(tmp_path / "models.txt"))
    assert result.exit_code == 2
    assert (
        result.output.strip()
        == f"cutover: error: --output must name a Python module (*.py), got {tmp_path / 'models.txt'}"
    )


def test_help_says_what_each_source_gives():
    result = CliRunner().invoke(app, ["schema", "map", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Django's models and a migrated database" in result.output
    assert "--tables" in result.output and "--output" in result.output
