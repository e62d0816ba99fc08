"""``cutover schema check``: the SQLAlchemy mapping against the migrated database."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..config import ConfigError, ProjectConfig
from ..database import parse_url, provisioned_database
from ..dburl import DatabaseURL
from ..embedded import scratch_root
from ..errors import CutoverError, one_line, reports_errors
from ..exit_codes import ExitCode
from ..imports import import_string
from ..schema.drift import check_drift, metadata_of
from ..schema.generate import chosen_tables, line_length_for, map_tables
from ..schema.mapping import known_tables
from . import project_config

app = typer.Typer(
    help="The shared schema: Django owns it, SQLAlchemy maps it.", no_args_is_help=True, rich_markup_mode=None
)
console = Console(highlight=False, soft_wrap=True)  # a line is never wrapped: grep finds it


def _migrated_database(stack: ExitStack, url: DatabaseURL | None, project: ProjectConfig) -> DatabaseURL:
    """``url`` as it is (migrated only if the config says so), else a throwaway embedded server migrated by
    the legacy's migrations, stopped and deleted when ``stack`` closes."""
    if url is None:
        # What the legacy's migrations build, on a cluster of its own: never a developer's data.
        made = tempfile.TemporaryDirectory(prefix="cutover-schema-", dir=scratch_root())
        scratch = Path(stack.enter_context(made))
        data_dir, throwaway = scratch / "pgdata", True
    else:
        data_dir, throwaway = Path("unused"), False
    return stack.enter_context(provisioned_database(url, data_dir, project, seed=False, throwaway=throwaway))


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
        with ExitStack() as stack:
            ready = _migrated_database(stack, parse_url(database_url), project)
            try:
                differences = check_drift(ready, metadata)
            except Exception as exc:  # connection refused, authentication failed, ...
                raise CutoverError(
                    f"cannot inspect the database at {ready.redacted()}: {one_line(exc)}"
                ) from exc
        if differences:
            for diff in differences:
                console.print(f"drift: {diff}", markup=False)
            console.print(f"{len(differences)} difference(s) between {spec} and the database", markup=False)
            raise typer.Exit(ExitCode.FAILED)
        console.print(
            f"schema: {spec} matches the database ({len(metadata.tables)} mapped tables)", markup=False
        )

    run()


@app.command("map")
def map_(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The Python module to write (the port owns it).")
    ],
    tables: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated tables to map; default: [parity] tables, else the project's own apps' "
            "tables (many-to-many tables included)."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="DATABASE_URL",
            help="A migrated database to read names from; default: a throwaway embedded server, migrated "
            "by the legacy.",
        ),
    ] = None,
) -> None:
    """Write the SQLAlchemy 2 mapping of the project's tables, from Django's models and a migrated database.

    Types, nullability and Python-side defaults (as comments) come from the models; the names of keys,
    constraints and indexes, ON DELETE and server defaults from the database. Where the two disagree (a
    migration not applied), each finding is one line and nothing is written (exit 1). The module is
    formatted for the line length of the ruff config nearest to it; `cutover schema check` passes on it.
    """

    @reports_errors
    def run() -> None:
        from ..parity.session import configure_django, settings_module

        project = project_config(ctx)
        if not (project.root / "manage.py").is_file() and project.legacy.settings is None:
            raise ConfigError(
                f"{project.root} is not a Django project: no manage.py and no [legacy] settings"
            )
        if output.suffix != ".py":
            raise CutoverError(f"--output must name a Python module (*.py), got {output}")
        module = settings_module(project)
        url = parse_url(database_url)
        # Django first (no connection is made): a table no model has is a mistake before any database.
        if not configure_django(project, url):
            _check_same_settings(module)
        names, origin = chosen_tables(project, tables)
        if not names:
            raise CutoverError(
                f"no table to map: name them with --tables or in [parity] tables ({project.where})"
            )
        known_tables(names, origin=origin)
        with ExitStack() as stack:
            ready = _migrated_database(stack, url, project)
            command = f"cutover schema map --output {output.name} --tables {','.join(names)}"
            try:
                result = map_tables(
                    ready, names, origin=origin, command=command, line_length=line_length_for(output)
                )
            except CutoverError:
                raise
            except Exception as exc:  # connection refused, authentication failed, ...
                raise CutoverError(
                    f"cannot inspect the database at {ready.redacted()}: {one_line(exc)}"
                ) from exc
        if result.findings:
            for finding in result.findings:
                console.print(f"disagrees: {finding}", markup=False, soft_wrap=True)
            console.print(
                f"{len(result.findings)} disagreement(s) between the models and the database: "
                f"nothing written to {output}",
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(ExitCode.FAILED)
        assert result.text is not None
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(result.text)
        console.print(
            f"wrote {output}: {len(result.tables)} tables ({', '.join(names)})", markup=False, soft_wrap=True
        )

    run()


def _check_same_settings(module: str) -> None:
    from django.conf import settings

    configured = getattr(settings, "SETTINGS_MODULE", None)
    if configured and configured != module:
        raise CutoverError(f"Django is already set up in this process with {configured!r}, not {module!r}")
