"""``cutover schema check``: the SQLAlchemy mapping against the migrated database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shared_db.drift import check_drift
from shared_db.embedded import DEFAULT_DATA_DIR

from ..database import parse_url, provisioned_database
from ..errors import CutoverError, one_line, reports_errors
from ..exit_codes import ExitCode
from . import project_config

app = typer.Typer(help="The shared schema: Django owns it, SQLAlchemy maps it.", no_args_is_help=True)
console = Console(highlight=False)


@app.command("check")
def check(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="DATABASE_URL", help="Database to check; default: the embedded server, migrated first."
        ),
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Embedded server data directory.")] = DEFAULT_DATA_DIR,
) -> None:
    """Compare the SQLAlchemy metadata with the live database; exit 1 naming each difference."""

    @reports_errors
    def run() -> None:
        url = parse_url(database_url)
        # An explicit database is checked as it is; the embedded one is migrated first (as the config says).
        with provisioned_database(url, data_dir, project_config(ctx), seed=False) as ready:
            try:
                differences = check_drift(ready)
            except Exception as exc:  # connection refused, authentication failed, ...
                raise CutoverError(
                    f"cannot inspect the database at {ready.redacted()}: {one_line(exc)}"
                ) from exc
        if differences:
            for diff in differences:
                console.print(f"drift: {diff}", markup=False)
            console.print(f"{len(differences)} difference(s) between shared_db.models and the database")
            raise typer.Exit(ExitCode.FAILED)
        console.print("schema: the SQLAlchemy mapping matches the database")

    run()
