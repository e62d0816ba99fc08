"""``cutover schema map`` on the catalog example, in its own Django 4.2 virtualenv with the toolkit: the
module it writes from the models and a database the example's migrations built passes ``cutover schema
check`` with no difference, is ruff-clean, and follows the database where it holds an ON DELETE."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from cutover.dburl import DatabaseURL

from .catalog_env import ensure_toolkit_venv, manage, project_env, scratch_database
from .test_catalog_cutover import cutover

# The tables the hand-written catalog_api.models maps: the app's own and the user model's.
TABLES = "auth_user,products_category,products_tag,products_product,products_product_tags"
RUFF = Path(sys.executable).parent / "ruff"


@pytest.fixture(scope="module")
def toolkit_bin() -> Path:
    return ensure_toolkit_venv()


def schema_map(toolkit_bin: Path, output: Path, database: DatabaseURL, *args: str):
    return cutover(
        toolkit_bin, "schema", "map", "--output", str(output), "--database-url", database.libpq(), *args
    )


def schema_check(toolkit_bin: Path, output: Path, database: DatabaseURL):
    return cutover(
        toolkit_bin,
        "schema",
        "check",
        "--models",
        f"{output.stem}:Base",
        "--database-url",
        database.libpq(),
        PYTHONPATH=str(output.parent),
    )


def test_the_mapping_written_from_the_catalog_passes_schema_check(
    toolkit_bin: Path, test_server: DatabaseURL, tmp_path: Path
) -> None:
    with scratch_database(test_server, "catalog_map") as database:
        env = project_env(toolkit_bin, database, secrets.token_urlsafe(20))
        manage(toolkit_bin, env, "migrate", "--noinput", "-v", "0")

        output = tmp_path / "catalog_models.py"
        written = schema_map(toolkit_bin, output, database, "--tables", TABLES)
        assert written.returncode == 0, written.stdout + written.stderr
        assert f"wrote {output}: 5 tables ({TABLES.replace(',', ', ')})" in written.stdout
        text = output.read_text()
        assert "price: Mapped[Decimal] = mapped_column(Numeric(10, 2))" in text
        assert 'CheckConstraint("stock >= 0", name="products_product_stock_check")' in text
        assert "# Django's default is 0, applied in Python: the database has no default\n    stock:" in text
        assert "(auto_now); the database does not\n    updated_at: Mapped[datetime]" in text
        assert '"product_category_active_idx", "category_id", "is_active"' in text
        assert "ondelete" not in text  # Django's on_delete is Python's: the database says NO ACTION

        checked = schema_check(toolkit_bin, output, database)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "matches the database (5 mapped tables)" in checked.stdout

        for command in (
            ["format", "--check", "--isolated"],
            ["check", "--isolated", "--select", "E,F,I,B,UP"],
        ):
            done = subprocess.run([str(RUFF), *command, str(output)], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr

        # Where the database does hold an ON DELETE (a key altered by hand, or Django 6's db_on_delete),
        # the mapping says what the database says.
        fk = "products_product_created_by_id_dd4af40e_fk_auth_user_id"
        with psycopg.connect(database.libpq(), autocommit=True) as conn:
            conn.execute(f"ALTER TABLE products_product DROP CONSTRAINT {fk}")
            conn.execute(
                f"ALTER TABLE products_product ADD CONSTRAINT {fk} FOREIGN KEY (created_by_id)"
                " REFERENCES auth_user (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED"
            )
        again = schema_map(toolkit_bin, output, database, "--tables", TABLES)
        assert again.returncode == 0, again.stdout + again.stderr
        assert 'ondelete="SET NULL"' in output.read_text()
        rechecked = schema_check(toolkit_bin, output, database)
        assert rechecked.returncode == 0, rechecked.stdout + rechecked.stderr


def test_by_default_the_projects_own_tables_are_mapped(
    toolkit_bin: Path, test_server: DatabaseURL, tmp_path: Path
) -> None:
    with scratch_database(test_server, "catalog_map_default") as database:
        env = project_env(toolkit_bin, database, secrets.token_urlsafe(20))
        manage(toolkit_bin, env, "migrate", "--noinput", "-v", "0")
        output = tmp_path / "own_models.py"
        written = schema_map(toolkit_bin, output, database)
        assert written.returncode == 0, written.stdout + written.stderr
        own = "products_category, products_tag, products_product, products_product_tags"
        assert f"4 tables ({own})" in written.stdout
        # auth_user is not the project's own: the key to it is named, not mapped.
        assert (
            "references auth_user.id (products_product_created_by_id_dd4af40e_fk_auth_user_id)"
            in " ".join(line.strip("# ").strip() for line in output.read_text().splitlines())
        )
        checked = schema_check(toolkit_bin, output, database)
        assert checked.returncode == 0, checked.stdout + checked.stderr
