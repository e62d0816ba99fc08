"""``cutover check-async``: the written parity cases sent to the port alone, its event loop watched.

For a port too early to compare with the legacy: the same in-process setup as ``cutover parity`` (a
throwaway PostgreSQL, the fixture, the cases' credentials), the same blocking-call detector
(:mod:`cutover.parity.blocking`), and no comparison, no report.

Exit status: 0 no case blocked the loop, 1 one did (or a request could not be sent), 2 a usage or setup
error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import reports_errors
from ..exit_codes import ExitCode
from . import print_table, project_config

console = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("check-async")(check_async)


def check_async(
    ctx: typer.Context,
    route: Annotated[
        list[str], typer.Option("--route", help="Run only this route's cases (repeatable).")
    ] = [],  # noqa: B006
    database_url: Annotated[
        str | None,
        typer.Option(help="Use this migrated database (it WILL be reset) instead of a throwaway one."),
    ] = None,
    modern_app: Annotated[
        str | None, typer.Option(help="The ASGI app (module:attribute); default: [modern] asgi.")
    ] = None,
    cases_dir: Annotated[
        Path | None, typer.Option("--cases", help="Directory of case files; default: [parity] cases.")
    ] = None,
) -> None:
    """Find blocking calls on the port's event loop, per route, without comparing anything."""
    from ..parity.session import SessionOptions, run_async_check

    @reports_errors
    def run() -> None:
        project = project_config(ctx)
        options = SessionOptions(
            routes=tuple(route), cases=cases_dir, write_report=False, generated=0, noise=False,
            database_url=database_url, modern_app=modern_app,
        )  # fmt: skip
        started = time.monotonic()
        with _progress_bar() as progress:
            found = run_async_check(project, options, progress=progress)
        _print(found, time.monotonic() - started)
        if found.blocked or found.errors:
            raise typer.Exit(ExitCode.FAILED)

    run()


@contextmanager
def _progress_bar() -> Iterator[Callable[[int], Callable[[Any], None]]]:
    with Progress(
        TextColumn("[bold]check-async"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console, transient=True,
        disable=not console.is_terminal,  # off a terminal a bar is noise, and its end a blank line
    ) as bar:  # fmt: skip

        def start(total: int) -> Callable[[Any], None]:
            task = bar.add_task("", total=total)
            return lambda case: bar.update(task, advance=1, description=escape(case.key))

        yield start


def _print(found: Any, seconds: float) -> None:
    from ..parity.render import render_blocking

    for case in found.cases:
        if case.key in found.errors:
            console.print(f"{case.key}: {found.redactor.text(case.describe())}", markup=False)
            console.print(f"  error: {found.redactor.text(found.errors[case.key])}", markup=False)
            console.print()
        calls = found.blocking.get(case.key)
        if calls:
            console.print(render_blocking(case, calls, found.redactor), markup=False, soft_wrap=True)
            console.print()
    table = Table(title=escape(f"check-async: {found.modern}"))
    for column in ("route", "cases", "blocking", "errors", "status"):
        text = column in ("route", "status")
        table.add_column(column, justify="left" if text else "right", overflow="fold" if text else "ellipsis")
    by_route: dict[str, list[Any]] = {}
    for case in found.cases:
        by_route.setdefault(case.route, []).append(case)
    for route_id, cases in sorted(by_route.items()):
        blocked = sum(bool(found.blocking.get(c.key)) for c in cases)
        errors = sum(c.key in found.errors for c in cases)
        status = "[red]blocks[/red]" if blocked else "[red]error[/red]" if errors else "[green]ok[/green]"
        table.add_row(escape(route_id), str(len(cases)), str(blocked), str(errors), status)
    print_table(console, table)
    pace = f"in {seconds:.1f} s" if seconds > 0 else ""
    if found.blocked:
        console.print(
            f"{found.blocked} of {len(found.cases)} case(s) made a blocking call on the event loop {pace}",
            markup=False,
        )
    else:
        console.print(f"no blocking call on the event loop in {len(found.cases)} case(s) {pace}",
                      markup=False)  # fmt: skip
