"""``cutover schema check``: the SQLAlchemy mapping against the migrated database."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..database import parse_url, provisioned_database
from ..errors import CutoverError, one_line, reports_errors
from ..exit_codes import ExitCode
from ..imports import import_string
from ..schema.drift import check_drift, metadata_of
from . import project_config

app = typer.Typer(
    help="The shared schema: Django owns it, SQLAlchemy maps it.", no_args_is_help=True, rich_markup_mode=None
)
console = Console(highlight=False)


@app.command("check")
def check(
    ctx: typer.Context,
    models: Annotated[
        str | None,
        typer.Option(
            help="The port's SQLAlchemy mapping, module:Base (or a MetaData); default: [schema] models."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="DATABASE_URL",
            help="Database to check as it is; default: a throwaway embedded server, migrated by the legacy.",
        ),
    ] = None,
) -> None:
    """Compare the port's SQLAlchemy mapping with the database Django migrated; exit 1 naming each drift."""

    @reports_errors
    def run() -> None:
        project = project_config(ctx)
        spec = models or project.schema.models
        if spec is None:
            where = project.where
            raise CutoverError(
                f"no SQLAlchemy mapping to check: pass --models module:Base or set [schema] models in {where}"
            )
        try:
            metadata = metadata_of(import_string(spec, project.root, what="the SQLAlchemy mapping"))
        except TypeError as exc:
            raise CutoverError(f"the SQLAlchemy mapping {spec}: {exc}") from None
        url = parse_url(database_url)
        with ExitStack() as stack:
            if url is None:
                # What the legacy's migrations build, on a cluster of its own: never a developer's data.
                scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cutover-schema-")))
                data_dir, throwaway = scratch / "pgdata", True
            else:
                data_dir, throwaway = Path("unused"), False
            ready = stack.enter_context(
                provisioned_database(url, data_dir, project, seed=False, throwaway=throwaway)
            )
            try:
                differences = check_drift(ready, metadata)
            except Exception as exc:  # connection refused, authentication failed, ...
                raise CutoverError(
                    f"cannot inspect the database at {ready.redacted()}: {one_line(exc)}"
                ) from exc
        if differences:
            for diff in differences:
                console.print(f"drift: {diff}", markup=False)
            console.print(f"{len(differences)} difference(s) between {spec} and the database")
            raise typer.Exit(ExitCode.FAILED)
        console.print(f"schema: {spec} matches the database ({len(metadata.tables)} mapped tables)")

    run()
