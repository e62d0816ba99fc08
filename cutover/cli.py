"""The ``cutover`` command line: a typer app with one module per command group."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from .errors import CutoverError
from .exit_codes import ExitCode

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a CutoverError into one line on stderr and its exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CutoverError as exc:
            err_console.print(f"cutover: error: {exc}", markup=False)
            raise typer.Exit(int(exc.code)) from None

    return wrapper


app = typer.Typer(
    name="cutover",
    help="Run Django and FastAPI side by side, prove parity, and move routes between them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from .commands import bench, schema, up
    from .commands import routes as routing

    up.register(app)
    bench.register(app)
    routing.register(app)
    from .commands import parity; parity.register(app)  # noqa: E702, I001
    app.add_typer(schema.app, name="schema")


_register()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["ExitCode", "app", "main", "reports_errors"]
