"""``cutover parity``: run the parity suite against both apps and say, per route, whether they agree.

The command parses its options (defaults from the project config), calls one session of the engine
(:func:`cutover.parity.session.run_in_process`, or :func:`~cutover.parity.session.run_live` with
``--legacy URL --modern URL``) and prints what it found.

In-process, the modern app's event loop is watched for blocking calls meanwhile (``--no-blocking-check``
turns it off): what blocked is printed per case and counted per route, beside the comparison.

Exit status: 0 every case matched, 1 a mismatch (or a case that could not run, or, with ``[parity]
blocking = "fail"``, a blocking call on the modern app's loop), 2 a usage or setup error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import CutoverError, reports_errors
from ..exit_codes import ExitCode
from . import print_table, project_config

console = Console(highlight=False, soft_wrap=True)  # a line is never wrapped: grep finds it

DEFAULT_SEED = 20261128


def register(app: typer.Typer) -> None:
    app.command("parity")(parity)


def parity(
    ctx: typer.Context,
    route: Annotated[
        list[str], typer.Option("--route", help="Run only this route's cases (repeatable).")
    ] = [],  # noqa: B006
    report: Annotated[
        Path | None,
        typer.Option(help="Where to write the JSON report the cutover gate reads; default: [parity] report."),
    ] = None,
    write_report_file: Annotated[
        bool, typer.Option("--write-report/--no-report", help="Write the JSON report.")
    ] = True,
    junit: Annotated[Path | None, typer.Option(help="Also write JUnit XML for CI systems.")] = None,
    legacy: Annotated[str | None, typer.Option(help="Live mode: base URL of the Django server.")] = None,
    modern: Annotated[str | None, typer.Option(help="Live mode: base URL of the FastAPI server.")] = None,
    reset_database_url: Annotated[
        str | None,
        typer.Option(
            help="Live mode: the database the servers use, to reset before each case (enables writes)."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="In-process mode: use this migrated database (it WILL be reset) instead of a throwaway one."
        ),
    ] = None,
    modern_app: Annotated[
        str | None,
        typer.Option(help="In-process mode: the ASGI app (module:attribute); default: [modern] asgi."),
    ] = None,
    blocking_check: Annotated[
        bool,
        typer.Option(
            "--blocking-check/--no-blocking-check",
            help="In-process mode: report blocking calls on the modern app's event loop ([parity] blocking).",
        ),
    ] = True,
    cases_dir: Annotated[
        Path | None, typer.Option("--cases", help="Directory of case files; default: [parity] cases.")
    ] = None,
    rules_file: Annotated[
        Path | None, typer.Option("--rules", help="TOML file of parity rules; default: [parity] rules.")
    ] = None,
    generated: Annotated[
        int | None,
        typer.Option(
            min=0, help="How many cases to generate from the OpenAPI schema; default: [parity] generated, 40."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated cases.")] = DEFAULT_SEED,
    noise: Annotated[
        bool, typer.Option("--noise/--no-noise", help="Run the legacy twice to detect noise.")
    ] = True,
    jobs: Annotated[
        str,
        typer.Option(
            help="In-process mode: run the cases in N processes at once, each on a throwaway database; "
            "auto: one per 50 cases planned, at most one per core, per 512 MiB free and 8 in all "
            "(one with --database-url).",
        ),
    ] = "auto",
    token: Annotated[
        list[str],
        typer.Option(help="Live mode: USER=KEY, a DRF token for the cases' `token:USER` (repeatable)."),
    ] = [],  # noqa: B006
    session: Annotated[
        list[str],
        typer.Option(help="Live mode: USER=SESSIONID for the cases' `session:USER` (repeatable)."),
    ] = [],  # noqa: B006
    csrf_secret: Annotated[
        str | None, typer.Option(help="Live mode: the CSRF cookie's value for cookie-authenticated cases.")
    ] = None,
    secret_key: Annotated[
        str | None,
        typer.Option(
            help="Live mode with a reset database: the servers' SECRET_KEY, to sign fixture sessions."
        ),
    ] = None,
) -> None:
    """Prove both apps give identical results: a table per route, a diff per mismatch."""
    from ..parity.session import LiveOptions, SessionOptions, run_live
    from ..parity.shards import auto_jobs, run_in_jobs

    @reports_errors
    def run() -> None:
        if (legacy is None) != (modern is None):
            raise CutoverError("live mode needs both --legacy URL and --modern URL")
        live = legacy is not None
        wanted = _jobs(jobs)
        if live and wanted not in (None, 1):
            raise CutoverError("--jobs is for in-process mode (live servers share one database)")
        if not live and (reset_database_url or token or session or csrf_secret or secret_key):
            raise CutoverError(
                "--reset-database-url, --token, --session, --csrf-secret, --secret-key need --legacy/--modern"
            )
        project = project_config(ctx)
        options = SessionOptions(
            routes=tuple(route), cases=cases_dir, rules=rules_file, report=report,
            write_report=write_report_file, junit=junit, generated=generated, seed=seed, noise=noise,
            database_url=database_url, modern_app=modern_app, blocking_check=blocking_check,
        )  # fmt: skip
        if live:
            assert legacy is not None and modern is not None
            credentials = {
                **{("token", u): v for u, v in _pairs(token, "--token").items()},
                **{("session", u): v for u, v in _pairs(session, "--session").items()},
            }
            settings = LiveOptions(legacy, modern, reset_database_url, credentials, csrf_secret, secret_key)
            started = time.monotonic()
            with _progress_bar() as progress:
                found = run_live(project, options, settings, progress=progress)
        else:
            count = auto_jobs(project, options) if wanted is None else wanted
            started = time.monotonic()
            with _progress_bar() as progress:
                found = run_in_jobs(project, options, count, progress=progress)
        _print(found, time.monotonic() - started, 1 if live else count)
        if found.failed:
            raise typer.Exit(ExitCode.FAILED)

    run()


def _pairs(pairs: Sequence[str], option: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        user, sep, value = pair.partition("=")
        if not sep or not user or not value:
            raise CutoverError(f"{option} must be USER=VALUE, got {pair.split('=', 1)[0]!r}=...")
        out[user] = value
    return out


@contextmanager
def _progress_bar() -> Iterator[Callable[[int], Callable[[Any], None]]]:
    with Progress(
        TextColumn("[bold]parity"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console, transient=True,
        disable=not console.is_terminal,  # off a terminal a bar is noise, and its end a blank line
    ) as bar:  # fmt: skip

        def start(total: int) -> Callable[[Any], None]:
            task = bar.add_task("", total=total)
            return lambda result: bar.update(task, advance=1, description=escape(result.case.key))

        yield start


def _jobs(value: str) -> int | None:
    """``--jobs``: a number of jobs, or None for auto."""
    if value.strip().lower() == "auto":
        return None
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= 32:
        raise CutoverError(f"--jobs must be a number from 1 to 32, or auto; got {value!r}")
    return count


def _print(found: Any, seconds: float, jobs: int = 1) -> None:
    from ..parity.render import render_blocking, render_result

    results = found.results
    for result in results:
        if result.outcome != "match":
            console.print(render_result(result, found.redactor), markup=False, soft_wrap=True)
            console.print()
    for result in results:
        calls = found.blocking.get(result.case.key)
        if calls:
            console.print(render_blocking(result.case, calls, found.redactor), markup=False, soft_wrap=True)
            console.print()
    checked = found.blocking_checked
    table = Table(title=escape(f"parity: {found.names[0]} vs {found.names[1]}"))
    columns = ["route", "cases", "matched", "mismatched", "errors", "noise"]
    for column in [*columns, *(["blocking"] if checked else []), "status"]:
        text = column in ("route", "status")
        table.add_column(column, justify="left" if text else "right", overflow="fold" if text else "ellipsis")
    by_route: dict[str, list[Any]] = {}
    for result in results:
        by_route.setdefault(result.case.route, []).append(result)
    fails = found.blocking_policy == "fail"
    for route_id, route_results in sorted(by_route.items()):
        matched = sum(r.outcome == "match" for r in route_results)
        blocked = sum(bool(found.blocking.get(r.case.key)) for r in route_results)
        if matched == len(route_results) and not (blocked and fails):
            status = "[yellow]green, blocking[/yellow]" if blocked else "[green]green[/green]"
        else:
            status = "[red]red[/red]"
        table.add_row(
            escape(route_id), str(len(route_results)), str(matched),
            str(sum(r.outcome == "mismatch" for r in route_results)),
            str(sum(r.outcome == "error" for r in route_results)),
            str(sum(bool(r.noise) for r in route_results)),
            *([str(blocked)] if checked else []),
            status,
        )  # fmt: skip
    print_table(console, table)
    for note in found.notes:
        console.print(note, markup=False)
    if found.skipped:
        console.print(
            f"{len(found.skipped)} case(s) skipped: they change state or need credentials not given",
            markup=False,
        )
    if found.report_path is not None:
        console.print(f"report: {found.report_path}", markup=False)
    if found.junit is not None:
        console.print(f"junit: {found.junit}", markup=False)
    # The whole run, its setup included (a throwaway database, migrations, the fixture): what a CI job waits.
    pace = f"in {seconds:.1f} s, {len(results) / seconds:.1f} cases/s" if seconds > 0 else ""
    if pace and jobs > 1:
        pace += f" ({jobs} jobs)"
    if found.blocked:
        verdict = "not green" if found.blocking_policy == "fail" else 'a warning ([parity] blocking = "warn")'
        console.print(
            f"{found.blocked} case(s) made a blocking call on the modern app's event loop: {verdict}",
            markup=False,
        )
    mismatched = sum(r.outcome != "match" for r in results)
    if mismatched:
        console.print(f"{mismatched} of {len(results)} case(s) did not match {pace}", markup=False)
    else:
        console.print(f"all {len(results)} case(s) matched {pace}", markup=False)
