"""``cutover parity``: run the parity suite against both apps and say, per route, whether they agree.

In-process (the default) it starts a throwaway PostgreSQL, migrates it, and calls Django (WSGI) and the
FastAPI app (ASGI) in this process, resetting the database to the fixture before every run of a case.
With ``--legacy URL --modern URL`` it talks to live servers; it resets a database only when given one
explicitly (``--reset-database-url``), and otherwise runs only the cases that cannot change state.

Exit status: 0 every case matched, 1 a mismatch (or a case that could not run), 2 a usage or setup error.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared_db.config import DatabaseURL

from ..database import parse_url
from ..errors import CutoverError, reports_errors
from ..exit_codes import ExitCode

console = Console(highlight=False)

DEFAULT_CASES = Path("tests") / "parity" / "cases"
DEFAULT_RULES = Path("tests") / "parity" / "rules.toml"
DEFAULT_MODERN_APP = "fastapi_app.main:app"
DEFAULT_GENERATED = 40
DEFAULT_SEED = 20261128
# Broken credentials exist on any server (nobody holds them): live mode can always send them.
BROKEN_IDENTITIES = frozenset({"unknown", "tampered"})


def register(app: typer.Typer) -> None:
    app.command("parity")(parity)


def parity(
    route: Annotated[
        list[str], typer.Option("--route", help="Run only this route's cases (repeatable).")
    ] = [],  # noqa: B006
    report: Annotated[
        Path, typer.Option(help="Where to write the JSON report the cutover gate reads.")
    ] = Path(".cutover/parity-report.json"),
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
        str, typer.Option(help="In-process mode: the ASGI app, as module:attribute.")
    ] = DEFAULT_MODERN_APP,
    cases_dir: Annotated[Path, typer.Option("--cases", help="Directory of case files.")] = DEFAULT_CASES,
    rules_file: Annotated[
        Path, typer.Option("--rules", help="TOML file of parity rules (each with a reason).")
    ] = DEFAULT_RULES,
    generated: Annotated[
        int, typer.Option(min=0, help="How many cases to generate from the OpenAPI schema.")
    ] = DEFAULT_GENERATED,
    seed: Annotated[int, typer.Option(help="Seed of the generated cases.")] = DEFAULT_SEED,
    noise: Annotated[
        bool, typer.Option("--noise/--no-noise", help="Run the legacy twice to detect noise.")
    ] = True,
    token: Annotated[
        list[str],
        typer.Option(
            help="Live mode: IDENTITY=KEY, a DRF token for the cases' `token:IDENTITY` (repeatable)."
        ),
    ] = [],  # noqa: B006
    session: Annotated[
        list[str],
        typer.Option(help="Live mode: IDENTITY=SESSIONID for the cases' `session:IDENTITY` (repeatable)."),
    ] = [],  # noqa: B006
    csrf_secret: Annotated[
        str | None, typer.Option(help="Live mode: the csrftoken cookie value for session cases.")
    ] = None,
    secret_key: Annotated[
        str | None,
        typer.Option(
            help="Live mode with a reset database: the servers' SECRET_KEY, to sign fixture sessions."
        ),
    ] = None,
) -> None:
    """Prove both apps give identical results: a table per route, a diff per mismatch."""

    @reports_errors
    def run() -> None:
        if (legacy is None) != (modern is None):
            raise CutoverError("live mode needs both --legacy URL and --modern URL")
        live = legacy is not None
        if not cases_dir.is_dir():  # before starting a database for nothing
            raise CutoverError(f"no cases directory at {cases_dir} (run from the project root)")
        if live and database_url:
            raise CutoverError(
                "--database-url is for in-process mode; live mode resets only --reset-database-url"
            )
        if not live and (reset_database_url or token or session or csrf_secret or secret_key):
            raise CutoverError(
                "--reset-database-url, --token, --session, --csrf-secret, --secret-key need --legacy/--modern"
            )
        with ExitStack() as stack:
            if live:
                runner, mode, names = _live(
                    stack, legacy, modern, reset_database_url, token, session, csrf_secret, secret_key
                )
            else:
                runner, mode, names = _in_process(stack, database_url, modern_app)
            runner.detect_noise = noise
            selected, skipped = _select(runner, cases_dir, rules_file, route, generated, seed)
            results = _run_with_progress(runner, selected)
        _finish(results, skipped, runner, mode, names, route, report if write_report_file else None, junit)

    run()


# --- setting up ------------------------------------------------------------------------------------------


def _configure_django(url: DatabaseURL | None, secret_key: str | None = None) -> bool:
    """Configure Django for this process (once); return False when it already was, for another caller."""
    from django.conf import settings

    if settings.configured:
        return False
    # The legacy settings read the environment once, here; the engine's own code reads it nowhere else.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")
    # A placeholder when no database is used: Django connects lazily and the engine then never asks it to.
    os.environ["DATABASE_URL"] = url.libpq() if url else "postgresql://unused@127.0.0.1:9/unused"
    if secret_key:
        os.environ["SECRET_KEY"] = secret_key
    import django

    django.setup()
    return True


def _check_same_database(url: DatabaseURL) -> None:
    from django.conf import settings

    configured = settings.DATABASES["default"]
    if configured.get("NAME") != url.name or str(configured.get("HOST")) != url.host:
        raise CutoverError(
            f"Django is already configured in this process for database {configured.get('NAME')!r}; "
            f"--database-url names {url.name!r}"
        )


def _in_process(
    stack: ExitStack, database_url: str | None, modern_app: str
) -> tuple[Any, str, tuple[str, str]]:
    from django.conf import settings

    from ..parity.fixture import FixtureDatabase
    from ..parity.runner import ParityRunner
    from ..parity.targets import ASGITarget, django_wsgi_target

    url = parse_url(database_url)
    if settings.configured:
        if url is None:
            raise CutoverError(
                "Django is already configured in this process: pass --database-url for its database"
            )
        _check_same_database(url)
    else:
        if url is None:
            url = stack.enter_context(_throwaway_database())
        _configure_django(url)
        _migrate()
    app = _import_app(modern_app)
    database = stack.enter_context(FixtureDatabase(url))
    legacy_target = django_wsgi_target()  # (re)configures Django's logging: quieten it after this
    stack.callback(legacy_target.close)
    # Django logs every 4xx of the legacy as a warning; the table and the diffs say what matters.
    quiet = {"django.request": logging.ERROR, "django.security": logging.CRITICAL}
    for name, level in quiet.items():
        logger = logging.getLogger(name)
        stack.callback(logger.setLevel, logger.level)
        logger.setLevel(level)
    try:
        modern_target = ASGITarget(app, "modern")
    except Exception as exc:
        raise CutoverError(f"the ASGI app {modern_app} failed to start: {type(exc).__name__}: {exc}") from exc
    stack.callback(modern_target.close)
    runner = ParityRunner(legacy_target, modern_target, database)
    return runner, "in-process", ("Django (in-process, WSGI)", f"{modern_app} (in-process, ASGI)")


@contextmanager
def _throwaway_database() -> Iterator[DatabaseURL]:
    from shared_db.embedded import embedded_database

    try:
        with (
            tempfile.TemporaryDirectory(prefix="cutover-parity-pg-") as scratch,
            embedded_database(Path(scratch) / "pgdata", name="parity", throwaway=True) as url,
        ):
            yield url
    except CutoverError:
        raise
    except Exception as exc:
        if isinstance(exc, typer.Exit):
            raise
        raise CutoverError(f"cannot start the throwaway database: {type(exc).__name__}: {exc}") from exc


def _migrate() -> None:
    from django.core.management import call_command

    try:
        call_command("migrate", interactive=False, verbosity=0)
    except Exception as exc:
        raise CutoverError(f"migrating the throwaway database failed: {exc}") from exc


def _import_app(ref: str) -> Any:
    """``module:attribute``: an ASGI app, or a factory function that returns one (``create_app``)."""
    module, sep, attr = ref.partition(":")
    if not sep:
        raise CutoverError(f"--modern-app must be module:attribute, got {ref!r}")
    try:
        app = getattr(importlib.import_module(module), attr)
        if inspect.isfunction(app) and not inspect.iscoroutinefunction(app):
            app = app()
        return app
    except (ImportError, AttributeError) as exc:
        raise CutoverError(f"cannot import the modern app {ref}: {exc}") from exc
    except Exception as exc:  # its settings refused to load, say
        raise CutoverError(f"importing the modern app {ref} failed: {type(exc).__name__}: {exc}") from exc


def _credentials(pairs: Sequence[str], option: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        identity, sep, value = pair.partition("=")
        if not sep or not identity or not value:
            raise CutoverError(f"{option} must be IDENTITY=VALUE, got {pair.split('=', 1)[0]!r}=...")
        out[identity] = value
    return out


def _live(
    stack: ExitStack, legacy: str | None, modern: str | None, reset_database_url: str | None,
    token: Sequence[str], session: Sequence[str], csrf_secret: str | None, secret_key: str | None,
) -> tuple[Any, str, tuple[str, str]]:  # fmt: skip
    from ..parity.fixture import FixtureDatabase, build_fixture
    from ..parity.runner import ParityRunner
    from ..parity.targets import LiveTarget

    assert legacy is not None and modern is not None
    reset_url = parse_url(reset_database_url)
    tokens, sessions = _credentials(token, "--token"), _credentials(session, "--session")
    _configure_django(reset_url, secret_key)
    targets = []
    for name, base in (("legacy", legacy), ("modern", modern)):
        try:
            target = LiveTarget(base, name)
        except ValueError as exc:
            raise CutoverError(str(exc)) from exc
        stack.callback(target.close)
        targets.append(target)
    fixture = build_fixture()
    if reset_url is None:
        # Nothing of the fixture exists on the servers: only the credentials given, and broken ones.
        fixture = replace(
            fixture,
            tokens={k: v for k, v in fixture.tokens.items() if k in BROKEN_IDENTITIES} | tokens,
            sessions={k: v for k, v in fixture.sessions.items() if k in BROKEN_IDENTITIES} | sessions,
        )
    else:
        fixture = replace(
            fixture, tokens={**fixture.tokens, **tokens}, sessions={**fixture.sessions, **sessions}
        )
    if csrf_secret:
        fixture = replace(fixture, csrf_secret=csrf_secret)
    database = None
    if reset_url is not None:
        database = stack.enter_context(FixtureDatabase(reset_url, fixture))
        try:
            database.conn  # noqa: B018 - connect now, so a wrong URL is a setup error, not 100 failed cases
        except Exception as exc:
            reason = " ".join(str(exc).split())  # libpq's message spans lines; the error is one
            raise CutoverError(f"cannot connect to {reset_url.redacted()}: {reason}") from exc
    runner = ParityRunner(targets[0], targets[1], database, fixture=fixture)
    return runner, "live", (legacy, modern)


def _select(
    runner: Any, cases_dir: Path, rules_file: Path, routes: Sequence[str], generated: int, seed: int
) -> tuple[list[Any], list[Any]]:
    from ..parity.cases import CaseError, load_cases
    from ..parity.compare import load_rules
    from ..parity.fixture import build_fixture
    from ..parity.generated import generated_cases

    try:
        extra = generated_cases(generated, seed) if generated else []
        # Hooks see the whole fixture (live mode narrows the runner's credentials to those given).
        cases = load_cases(cases_dir, fixture=build_fixture(), extra=extra)
        runner.rules = load_rules(rules_file)
    except CaseError as exc:
        raise CutoverError(str(exc)) from exc
    known = {c.route for c in cases}
    unknown = [r for r in routes if r not in known]
    if unknown:
        raise CutoverError(
            f"no cases for route(s) {', '.join(unknown)} (routes with cases: {', '.join(sorted(known))})"
        )
    if routes:
        cases = [c for c in cases if c.route in set(routes)]
    skipped = []
    if runner.database is None:
        runnable = []
        for case in cases:
            table = {"token": runner.fixture.tokens, "session": runner.fixture.sessions}.get(
                case.auth.kind, {}
            )
            if not case.safe or (case.auth.kind != "anonymous" and case.auth.identity not in table):
                skipped.append(case)
            else:
                runnable.append(case)
        cases = runnable
    if not cases:
        raise CutoverError(
            "no case to run"
            + (" (live mode without a reset database runs only safe cases)" if skipped else "")
        )
    try:
        runner.check(cases)
    except CaseError as exc:
        raise CutoverError(str(exc)) from exc
    return cases, skipped


def _run_with_progress(runner: Any, cases: Sequence[Any]) -> list[Any]:
    with Progress(
        TextColumn("[bold]parity"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=len(cases))

        def advance(result: Any) -> None:
            progress.update(task, advance=1, description=result.case.key)

        return runner.run(cases, on_result=advance)  # type: ignore[no-any-return]


# --- reporting -------------------------------------------------------------------------------------------


def _finish(
    results: Sequence[Any], skipped: Sequence[Any], runner: Any, mode: str, names: tuple[str, str],
    routes: Sequence[str], report_path: Path | None, junit: Path | None,
) -> None:  # fmt: skip
    from ..parity.redact import Redactor
    from ..parity.render import render_result
    from ..parity.report import ROUTE_IDS, build_report, write_junit, write_report

    redactor = Redactor(runner.fixture.secrets())
    for result in results:
        if result.outcome != "match":
            console.print(render_result(result, redactor), markup=False, soft_wrap=True)
            console.print()
    table = Table(title=f"parity: {names[0]} vs {names[1]}")
    for column in ("route", "cases", "matched", "mismatched", "errors", "noise", "status"):
        table.add_column(column, justify="left" if column in ("route", "status") else "right")
    by_route: dict[str, list[Any]] = {}
    for result in results:
        by_route.setdefault(result.case.route, []).append(result)
    for route_id, route_results in sorted(by_route.items()):
        matched = sum(r.outcome == "match" for r in route_results)
        bad = len(route_results) - matched
        table.add_row(
            route_id, str(len(route_results)), str(matched),
            str(sum(r.outcome == "mismatch" for r in route_results)),
            str(sum(r.outcome == "error" for r in route_results)),
            str(sum(bool(r.noise) for r in route_results)),
            "[green]green[/green]" if bad == 0 else "[red]red[/red]",
        )  # fmt: skip
    console.print(table)
    if skipped:
        console.print(
            f"{len(skipped)} case(s) skipped: they change state or need credentials not given", markup=False
        )
    # Every known route is listed; one not run this time is red (no cases) unless merged from before.
    data = build_report(results, redactor, mode=mode, legacy=names[0], modern=names[1], routes=ROUTE_IDS)
    if report_path is not None:
        _merge_previous(data, report_path, ran=set(by_route))
        write_report(data, report_path)
        console.print(f"report: {report_path}", markup=False)
    if junit is not None:
        write_junit(results, redactor, junit, lambda r: render_result(r, redactor))
        console.print(f"junit: {junit}", markup=False)
    failed = sum(r.outcome != "match" for r in results)
    if failed:
        console.print(f"{failed} of {len(results)} case(s) did not match", markup=False)
        raise typer.Exit(ExitCode.FAILED)
    console.print(f"all {len(results)} case(s) matched", markup=False)


def _merge_previous(data: dict[str, Any], path: Path, ran: set[str]) -> None:
    # A --route run refreshes those routes and keeps the others, but only from a report of the same code.
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(previous, dict) or previous.get("revision") != data["revision"]:
        return
    for route_id, entry in (previous.get("routes") or {}).items():
        if route_id not in ran and (route_id not in data["routes"] or data["routes"][route_id]["cases"] == 0):
            data["routes"][route_id] = entry
