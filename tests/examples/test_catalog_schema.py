"""``cutover schema check`` on the catalog example, through its config: clean on a database its own
migrations built, and failing, naming each difference, once the database drifts from the mapping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from cutover.dburl import DatabaseURL

from .catalog_env import PROJECT, manage, project_env, scratch_database

CUTOVER = Path(sys.executable).parent / "cutover"


def schema_check(url: DatabaseURL) -> subprocess.CompletedProcess[str]:
    # Run from the project's folder, as a team runs it: the config is found there, nothing named.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CUTOVER_CONFIG")}
    env["COLUMNS"] = "300"  # one line per difference (rich wraps at 80 columns off a terminal)
    return subprocess.run(
        [str(CUTOVER), "schema", "check", "--database-url", url.libpq()],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_schema_check_is_clean_then_names_each_drift(catalog_bin: Path, test_server: DatabaseURL) -> None:
    with scratch_database(test_server, "catalog_schema") as database:
        manage(
            catalog_bin,
            project_env(catalog_bin, database, "schema-check-key"),
            "migrate",
            "--noinput",
            "-v",
            "0",
        )

        clean = schema_check(database)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "schema: catalog_api.models:Base matches the database (5 mapped tables)" in clean.stdout

        with psycopg.connect(database.libpq(), autocommit=True) as conn:
            conn.execute("ALTER INDEX product_category_active_idx RENAME TO product_category_idx")
            conn.execute("ALTER TABLE products_product ADD COLUMN weight integer")
            conn.execute("ALTER TABLE products_tag ALTER COLUMN name TYPE varchar(80)")
        drifted = schema_check(database)
        assert drifted.returncode == 1, drifted.stdout + drifted.stderr
        lines = drifted.stdout.splitlines()

        def reported(*parts: str) -> bool:
            return any(all(part in line for part in parts) for line in lines if line.startswith("drift: "))

        assert reported("products_product", "weight", "in the database but not mapped"), lines
        assert reported("products_product", "product_category_idx", "in the database but not mapped"), lines
        assert reported("products_product", "product_category_active_idx", "mapped but missing"), lines
        assert reported("products_tag", "name", "VARCHAR(length=80)", "String(length=50)"), lines
        assert lines[-1] == "4 difference(s) between catalog_api.models:Base and the database"
