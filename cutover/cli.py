"""The ``cutover`` command line: a typer app with one module per command group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .errors import reports_errors
from .exit_codes import ExitCode

app = typer.Typer(
    name="cutover",
    help="Run Django and FastAPI side by side, prove parity, and move routes between them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help texts name config tables, "[proxy] manifest": no markup in them
)


@app.callback()
def _options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="CUTOVER_CONFIG",
            help="The project config (default: cutover.toml or [tool.cutover] found from here upward).",
        ),
    ] = None,
) -> None:
    ctx.obj = {"config": config}


def _register() -> None:
    # Commands import downward only (errors, engines), never this module: no import circle.
    from .commands import audit, bench, check_async, init, metrics, parity, promote, schema, shadow, up
    from .commands import dashboard as dashboard_cmd
    from .commands import routes as routing

    init.register(app)
    up.register(app)
    bench.register(app)
    routing.register(app)
    promote.register(app)
    parity.register(app)
    check_async.register(app)
    audit.register(app)
    dashboard_cmd.register(app)
    app.add_typer(schema.app, name="schema")
    app.add_typer(metrics.app, name="metrics")
    app.add_typer(shadow.app, name="shadow")


_register()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["ExitCode", "app", "main", "reports_errors"]
