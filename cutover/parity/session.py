"""A parity session: everything ``cutover parity`` does between parsing its options and printing.

In-process (:func:`run_in_process`): the project's settings set up in this process on a throwaway
PostgreSQL (or the database given), migrated as the config says; the project's own WSGI app and its port's
ASGI app called in this process with a host ``ALLOWED_HOSTS`` accepts; the fixture loaded and the cases'
credentials minted; the port's event loop watched for blocking calls meanwhile (:mod:`.blocking`). Live
(:func:`run_live`): the same cases against servers, resetting a database only when one is named.
:func:`run_async_check` (``cutover check-async``): the in-process setup, the cases sent to the port alone,
its loop watched, nothing compared.

Every setup error is a :class:`~cutover.errors.CutoverError` of one line (exit 2), raised before any case
runs and before anything is written. Everything project-specific comes from the :class:`ProjectConfig`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..config import ProjectConfig
from ..errors import CutoverError, described
from .blocking import BlockingCall, BlockingDetector, WatchedTarget
from .cases import Case, CaseError, check_routes, load_cases
from .compare import load_rules
from .fixture import Fixture, FixtureDatabase, parse_sources
from .identities import Credential, Csrf, IdentityError
from .pbkdf2_memo import memoised_pbkdf2
from .redact import Redactor
from .runner import CaseResult, ParityRunner
from .shards import parity_database
from .tables import Tables

__all__ = [
    "AsyncCheckResult",
    "LiveOptions",
    "SessionOptions",
    "SessionResult",
    "finish",
    "run_async_check",
    "run_in_process",
    "run_live",
]

DEFAULT_SEED = 20261128


@dataclass(frozen=True)
class SessionOptions:
    """What a session runs; None means the project config's value."""

    routes: tuple[str, ...] = ()
    cases: Path | None = None
    rules: Path | None = None
    report: Path | None = None
    write_report: bool = True
    junit: Path | None = None
    generated: int | None = None  # cases generated from the OpenAPI schema; None: [parity] generated
    seed: int = DEFAULT_SEED
    noise: bool = True
    database_url: str | None = (
        None  # in-process: a migrated database to use (it is reset) instead of a throwaway
    )
    modern_app: str | None = None  # in-process: the ASGI app instead of [modern] asgi
    blocking_check: bool = True  # in-process: watch the modern app's event loop for blocking calls


@dataclass(frozen=True)
class LiveOptions:
    legacy: str
    modern: str
    reset_database_url: str | None = None
    credentials: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (scheme, user) -> value
    csrf_secret: str | None = None
    secret_key: str | None = None


@dataclass
class SessionResult:
    results: list[CaseResult]
    skipped: list[Case]
    mode: str
    names: tuple[str, str]
    redactor: Redactor
    report: dict[str, Any]
    report_path: Path | None
    junit: Path | None
    notes: list[str] = field(default_factory=list)  # what the command should say besides the results
    routes: list[str] = field(default_factory=list)  # the routes the report lists (the manifest's first)
    blocking: dict[str, list[BlockingCall]] = field(default_factory=dict)  # case key -> what blocked
    blocking_checked: bool = False
    blocking_policy: str = "fail"

    @property
    def blocked(self) -> int:
        """How many cases made a blocking call on the modern app's event loop."""
        return sum(bool(self.blocking.get(r.case.key)) for r in self.results)

    @property
    def failed(self) -> int:
        """Cases that did not match, or (``[parity] blocking = "fail"``) blocked the loop."""
        fails = self.blocking_policy == "fail"
        return sum(
            r.outcome != "match" or (fails and bool(self.blocking.get(r.case.key))) for r in self.results
        )


@dataclass
class AsyncCheckResult:
    """What ``cutover check-async`` found: per case run, the blocking calls (none: an empty list)."""

    cases: list[Case]
    blocking: dict[str, list[BlockingCall]]
    errors: dict[str, str]  # case key -> why the request failed (a transport error)
    modern: str
    redactor: Redactor

    @property
    def blocked(self) -> int:
        return sum(bool(self.blocking.get(c.key)) for c in self.cases)


Progress = Callable[[int], Callable[[CaseResult], Any]]  # total -> on_result


class Feed(Protocol):
    """Where one job of ``--jobs`` takes its cases from and sends each result (cutover/parity/shards.py).

    Every job plans the same written cases; only the planning job (``plans``) draws the generated ones,
    which it publishes for the others. Cases are then taken one at a time, by position in the plan
    (written ones first, then generated), until none is left."""

    @property
    def plans(self) -> bool:
        """Whether this job draws the generated cases."""

    def publish(self, written: int, generated: list[Case]) -> None: ...

    def take(self) -> tuple[int, Case | None] | None:
        """The next case: its position and, for a generated one, the case itself; None when done."""

    def result(self, position: int, result: CaseResult) -> None: ...


# --- Django in this process ------------------------------------------------------------------------------


def settings_module(project: ProjectConfig) -> str:
    """The project's settings module, checked importable (with the project root on the path)."""
    from ..imports import project_importable

    module = project.settings_module()
    project_importable(project.root)
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise CutoverError(f"the settings module {module!r} is not importable from {project.root}")
    return module


def configure_django(project: ProjectConfig, url: Any | None, secret_key: str | None = None) -> bool:
    """Set up the project's settings in this process (once); False when Django already was set up."""
    from django.conf import settings

    from ..imports import project_importable

    if settings.configured:
        return False
    module = settings_module(project)
    project_importable(project.root)
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    # A placeholder when no database is used: Django connects lazily and the engine then never asks it to.
    os.environ["DATABASE_URL"] = url.libpq() if url else "postgresql://unused@127.0.0.1:9/unused"
    if secret_key:
        os.environ["SECRET_KEY"] = secret_key  # for settings that read it from the environment
    import django

    try:
        django.setup()
    except Exception as exc:
        raise CutoverError(f"the settings module {module!r} failed to load: {described(exc)}") from None
    if secret_key:
        settings.SECRET_KEY = secret_key
    return True


def _check_same_database(url: Any) -> None:
    from django.conf import settings

    configured = settings.DATABASES["default"]
    # dj-database-url puts a socket directory given as ``?host=`` in OPTIONS, where psycopg reads it.
    host = configured.get("HOST") or configured.get("OPTIONS", {}).get("host") or "localhost"
    if configured.get("NAME") != url.name or str(host) != url.host:
        raise CutoverError(
            f"Django is already configured in this process for database {configured.get('NAME')!r}; "
            f"--database-url names {url.name!r}"
        )


def _migrate() -> None:
    from django.core.management import call_command

    try:
        call_command("migrate", interactive=False, verbosity=0)
    except Exception as exc:
        raise CutoverError(f"migrating the database failed: {described(exc)}") from exc


def _parse_url(raw: str | None) -> Any:
    from ..database import parse_url

    return parse_url(raw)


def _asgi_app(spec: str, root: Path) -> Any:
    """``module:attribute``: an ASGI app, or a factory function that returns one (``create_app``)."""
    import inspect

    from ..imports import import_string

    if ":" not in spec:
        raise CutoverError(f"the ASGI app must be module:attribute, got {spec!r}")
    app = import_string(spec, root, what="the modern app")
    if inspect.isfunction(app) and not inspect.iscoroutinefunction(app):
        try:
            app = app()
        except Exception as exc:
            raise CutoverError(f"the modern app factory {spec} failed: {described(exc)}") from None
    return app


def _wsgi_app(project: ProjectConfig) -> Any:
    from django.core.servers.basehttp import get_internal_wsgi_application

    from ..imports import import_string

    if project.legacy.wsgi:
        return import_string(project.legacy.wsgi, project.root, what="the legacy's WSGI app")
    try:
        return get_internal_wsgi_application()
    except Exception as exc:
        raise CutoverError(f"the settings' WSGI_APPLICATION cannot be loaded: {exc}") from None


# --- cases -----------------------------------------------------------------------------------------------

NO_TABLES = (
    "no table is compared or reset: the project's own apps have no models ([parity] tables names none); "
    "responses are compared, and if the API writes to a table (Django's users, say), name it in "
    "[parity] tables, or its writes carry over from case to case"
)


@dataclass
class _Plan:
    cases: list[Case]
    rules: list[Any]
    routes: list[str]  # the manifest's route ids, then those of cases it does not list
    manifest_routes: tuple[Any, ...]
    notes: list[str]


def _read_cases(project: ProjectConfig, options: SessionOptions) -> tuple[list[Case], list[Any], Path]:
    cases_dir = options.cases or project.parity.cases
    if not cases_dir.is_dir():
        raise CutoverError(f"no cases directory at {cases_dir} (the config's [parity] cases, or --cases)")
    manifest = _manifest_routes(project)
    try:
        cases = load_cases(cases_dir)
        if manifest:
            check_routes(cases, [r.id for r in manifest], cases_dir)
        rules = load_rules(options.rules or project.parity.rules)
    except CaseError as exc:
        raise CutoverError(str(exc)) from exc
    return cases, rules, cases_dir


def _manifest_routes(project: ProjectConfig) -> tuple[Any, ...]:
    from ..proxy.manifest import load_manifest

    if not project.proxy.manifest.is_file():
        return ()
    return load_manifest(project.proxy.manifest).routes


def _plan(
    project: ProjectConfig, options: SessionOptions, cases: list[Case], rules: list[Any], *,
    draws: bool = True,
) -> _Plan:  # fmt: skip
    """The cases to run: the written ones, then (``draws``) the generated ones, of the routes asked for.
    A job of ``--jobs`` that does not draw them plans the written ones alone, unchecked against
    ``--route`` (the drawing job checks that, with every case)."""
    from .generated import WITHOUT_GENERATED, SchemaError, generated_cases

    routes = _manifest_routes(project)
    notes: list[str] = []
    count = project.parity.generated if options.generated is None else options.generated
    count = count if draws else 0
    if count:
        if not routes:
            raise CutoverError(
                f"generated cases need the manifest to map operations to routes: no manifest at "
                f"{project.proxy.manifest}; {WITHOUT_GENERATED}"
            )
        identities = sorted({c.auth for c in cases}, key=str)
        try:
            drawn = generated_cases(count, options.seed, routes=routes, identities=identities)
        except SchemaError as exc:
            raise CutoverError(str(exc)) from None
        if drawn.unrouted:
            notes.append(
                f"{len(drawn.unrouted)} operation(s) of the OpenAPI schema that no route of the manifest "
                f"takes were left out: {', '.join(drawn.unrouted)}"
            )
        cases = cases + drawn.cases
    seen: set[str] = set()
    for case in cases:
        if case.key in seen:
            raise CutoverError(f"duplicate case {case.key!r}")
        seen.add(case.key)
    known = {c.route for c in cases}
    unknown = [r for r in options.routes if r not in known]
    if unknown and draws:
        raise CutoverError(
            f"no cases for route(s) {', '.join(unknown)} (routes with cases: {', '.join(sorted(known))})"
        )
    if options.routes:
        cases = [c for c in cases if c.route in set(options.routes)]
    notes.extend(_credentials_not_taken([c for c in cases if not c.generated], project))
    listed = [r.id for r in routes]
    return _Plan(cases, rules, listed + sorted(known - set(listed)), routes, notes)


def _credentials_not_taken(cases: list[Case], project: ProjectConfig) -> list[str]:
    """Written cases whose built-in credential the legacy view at their path does not take (``jwt:alice``
    where the view authenticates by token and session): to that view the request is anonymous, and both
    apps agreeing on a 401 would pass as parity of an authenticated request. Said, not refused: a case may
    mean it."""
    from urllib.parse import urlsplit

    from django.urls import Resolver404, resolve

    from .identities import BUILTIN, schemes_of

    found: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for case in cases:
        scheme = case.auth.scheme
        if case.auth.anonymous or scheme not in BUILTIN or scheme in project.identities:
            continue
        try:
            match = resolve(urlsplit(case.path).path)
        except Resolver404:
            continue
        view = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
        classes = getattr(view, "authentication_classes", None)
        takes = schemes_of(classes) if classes is not None else ("session",)  # Django's own login
        if scheme not in takes:
            target = view or match.func
            name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__name__', '?')}"
            found.setdefault((scheme, name, takes), []).append(case.key)
    return [
        f"{len(keys)} case(s) send {scheme} credentials to {name}, which takes {', '.join(takes) or 'none'}: "
        f"to it they are anonymous (first: {keys[0]})"
        for (scheme, name, takes), keys in found.items()
    ]


def _runner_check(runner: ParityRunner, cases: list[Case]) -> list[Case]:
    try:
        return runner.prepare(cases)
    except (CaseError, IdentityError) as exc:
        raise CutoverError(str(exc)) from None


# --- in-process ------------------------------------------------------------------------------------------


@dataclass
class _InProcess:
    """Everything an in-process session sets up before its targets: Django, the database, the app."""

    modern_spec: str
    app: Any
    database: FixtureDatabase
    plan: _Plan
    origin: str


def _set_up_in_process(
    stack: ExitStack, project: ProjectConfig, options: SessionOptions, *, draws: bool = True,
    started: Any | None = None,
) -> _InProcess:  # fmt: skip
    from django.conf import settings

    from .targets import allowed_origin

    cases, rules, _ = _read_cases(project, options)
    sources = parse_sources(project.parity.fixture, project.root, f"{project.where}: [parity] fixture")
    # Entered first, so the blocking check's patch (entered later) wraps it and is undone before it is.
    stack.enter_context(memoised_pbkdf2())
    modern_spec = options.modern_app or project.modern.asgi
    if not modern_spec:
        raise CutoverError(
            f"no ASGI app to compare with: set [modern] asgi in {project.where}, or --modern-app"
        )
    url = _parse_url(options.database_url)
    if settings.configured:
        if url is None:
            raise CutoverError(
                "Django is already configured in this process: pass --database-url for its database"
            )
        _check_same_database(url)
    else:
        settings_module(project)  # before a database is started for nothing
        explicit = url is not None
        if url is None:
            url = started or stack.enter_context(parity_database())
        configure_django(project, url)
        if project.database.migrates(explicit_url=explicit):
            _migrate()
    app = _asgi_app(modern_spec, project.root)
    database = _fixture_database(stack, project, url, sources)
    database.fixture  # noqa: B018 - tables checked and the fixture loaded before anything else
    plan = _plan(project, options, cases, rules, draws=draws)
    if not database.fixture.tables.compared:
        plan.notes.append(NO_TABLES)
    try:
        origin = allowed_origin()
    except ValueError as exc:
        raise CutoverError(str(exc)) from None
    return _InProcess(modern_spec, app, database, plan, origin)


def _modern_target(
    stack: ExitStack, setup: _InProcess, detector: BlockingDetector | None
) -> WatchedTarget | Any:
    """The modern app's in-process target; watched for blocking calls when ``detector`` is given."""
    from .targets import ASGITarget

    app = detector.wrap(setup.app) if detector is not None else setup.app
    try:
        target = ASGITarget(app, "modern", origin=setup.origin)
    except Exception as exc:
        raise CutoverError(f"the ASGI app {setup.modern_spec} failed to start: {described(exc)}") from exc
    stack.callback(target.close)
    return detector.target(target) if detector is not None else target


def run_in_process(
    project: ProjectConfig, options: SessionOptions, progress: Progress | None = None,
    feed: Feed | None = None, started: Any | None = None,
) -> SessionResult:  # fmt: skip
    """Run the parity cases with both apps in this process (see the module docstring).

    With ``options.blocking_check`` the modern app's event loop is watched meanwhile
    (:mod:`cutover.parity.blocking`): what blocked it is reported per case, beside the comparison. With a
    ``feed`` (one job of ``--jobs``), the cases run are those the feed hands out, and each result goes to it;
    ``started`` is then the URL of the job's throwaway database, started while the job imported this.
    """
    from .targets import django_wsgi_target

    with ExitStack() as stack:
        setup = _set_up_in_process(stack, project, options, draws=feed is None or feed.plans, started=started)
        legacy_target = django_wsgi_target(app=_wsgi_app(project), origin=setup.origin)
        stack.callback(legacy_target.close)
        _quieten_django(stack)
        # Entered before the modern target: the app's shutdown runs while its functions are still patched
        # (harmlessly: only requests are watched), and the originals are back once the session is over.
        detector = stack.enter_context(BlockingDetector(project.root)) if options.blocking_check else None
        modern_target = _modern_target(stack, setup, detector)
        runner = ParityRunner(
            legacy_target, modern_target, setup.database, rules=setup.plan.rules, detect_noise=options.noise
        )
        selected = _runner_check(runner, setup.plan.cases)
        if feed is None:
            results = runner.run(selected, on_result=progress(len(selected)) if progress else None)
        else:
            results = _run_fed(runner, feed, setup.plan.cases, selected)
        blocking: dict[str, list[BlockingCall]] = {}
        if isinstance(modern_target, WatchedTarget):
            for result in results:
                if result.modern is not None:
                    blocking[result.case.key] = modern_target.calls_for(result.modern.request)
        names = ("Django (in-process, WSGI)", f"{setup.modern_spec} (in-process, ASGI)")
        return finish(
            project, options, results, [], runner.fixture, "in-process", names, setup.plan.routes,
            setup.plan.notes, blocking=blocking if detector is not None else None,
        )  # fmt: skip


def _run_fed(runner: ParityRunner, feed: Feed, planned: list[Case], prepared: list[Case]) -> list[CaseResult]:
    """The cases ``feed`` hands out, each run as it comes, its result sent back."""
    written = [case for case in prepared if not case.generated]
    feed.publish(len(written), [case for case in planned if case.generated])
    results = []
    try:
        while (task := feed.take()) is not None:
            position, shipped = task
            # A generated case comes as drawn; the planning job has already checked it can run.
            case = written[position] if shipped is None else _runner_check(runner, [shipped])[0]
            result = runner.run_case(case)
            results.append(result)
            feed.result(position, result)
    finally:
        runner.close()
    return results


def run_async_check(
    project: ProjectConfig,
    options: SessionOptions,
    progress: Callable[[int], Callable[[Case], Any]] | None = None,
) -> AsyncCheckResult:
    """Send every case to the modern app alone, in-process, with its event loop watched; compare nothing.

    For a port too early to compare: each case runs from the fixture (the database reset first, its
    ``setup_sql`` run), as parity runs it, and what blocked the loop is recorded per case.
    """
    from .capture import build_request
    from .redact import Redactor

    with ExitStack() as stack:
        setup = _set_up_in_process(stack, project, options)
        detector = stack.enter_context(BlockingDetector(project.root))
        target = _modern_target(stack, setup, detector)
        assert isinstance(target, WatchedTarget)
        # The runner's own checks (hooks applied, identities minted, refused before any runs); it never
        # compares here: both of its targets are the modern app, and only requests are sent below.
        runner = ParityRunner(target, target, setup.database, rules=setup.plan.rules, detect_noise=False)
        selected = _runner_check(runner, setup.plan.cases)
        on_case = progress(len(selected)) if progress else None
        blocking: dict[str, list[BlockingCall]] = {}
        errors: dict[str, str] = {}
        for case in selected:
            setup.database.reset(case.setup_sql)
            request = build_request(case, runner.fixture)
            try:
                target.send(request)
            except Exception as exc:  # a transport failure: the case did not run
                errors[case.key] = f"{type(exc).__name__}: {exc}"
            blocking[case.key] = target.calls_for(request)
            if on_case is not None:
                on_case(case)
        redactor = Redactor(runner.fixture.secrets())
        return AsyncCheckResult(
            selected, blocking, errors, f"{setup.modern_spec} (in-process, ASGI)", redactor
        )


def _fixture_database(stack: ExitStack, project: ProjectConfig, url: Any, sources: Any) -> FixtureDatabase:
    """The project's fixture database on ``url``, connected now: a wrong URL is one line, not hundreds of
    failed cases."""
    database = stack.enter_context(
        FixtureDatabase(
            url, root=project.root, sources=sources, schemes=project.identities,
            tables=project.parity.tables, hashed=project.parity.hashed, where=project.where,
        )
    )  # fmt: skip
    try:
        database.conn  # noqa: B018
    except Exception as exc:
        reason = " ".join(str(exc).split())  # libpq's message spans lines; the error is one
        raise CutoverError(f"cannot connect to {url.redacted()}: {reason}") from None
    return database


def _quieten_django(stack: ExitStack) -> None:
    # Django logs every 4xx of the legacy as a warning; the table and the diffs say what matters.
    quiet = {"django.request": logging.ERROR, "django.security": logging.CRITICAL}
    for name, level in quiet.items():
        logger = logging.getLogger(name)
        stack.callback(logger.setLevel, logger.level)
        logger.setLevel(level)


# --- live ------------------------------------------------------------------------------------------------


def _given(credentials: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], Credential]:
    from django.conf import settings

    out = {}
    for (scheme, user), value in credentials.items():
        if scheme == "token":
            keyword = "Token"
            try:
                from .identities import TokenScheme

                keyword = TokenScheme().keyword
            except IdentityError:
                pass
            out[(scheme, user)] = Credential(
                headers=(("Authorization", f"{keyword} {value}"),), secrets=(value,)
            )
        elif scheme == "session":
            out[(scheme, user)] = Credential(
                cookies=((settings.SESSION_COOKIE_NAME, value),), secrets=(value,)
            )
        else:
            raise CutoverError(
                f"live credentials are given for the token and session schemes, not {scheme!r}"
            )
    return out


def run_live(
    project: ProjectConfig, options: SessionOptions, live: LiveOptions, progress: Progress | None = None
) -> SessionResult:
    """Run the parity cases against two servers; writes are run only with a database to reset."""
    from dataclasses import replace

    from .targets import LiveTarget

    if options.database_url:
        raise CutoverError(
            "--database-url is for in-process mode; live mode resets only --reset-database-url"
        )
    cases, rules, _ = _read_cases(project, options)
    reset_url = _parse_url(live.reset_database_url)
    sources = parse_sources(project.parity.fixture, project.root, f"{project.where}: [parity] fixture")
    with ExitStack() as stack:
        configure_django(project, reset_url, live.secret_key)
        targets = []
        for name, base in (("legacy", live.legacy), ("modern", live.modern)):
            try:
                target = LiveTarget(base, name)
            except ValueError as exc:
                raise CutoverError(str(exc)) from exc
            stack.callback(target.close)
            targets.append(target)
        given = _given(live.credentials)
        database = None
        if reset_url is not None:
            database = _fixture_database(stack, project, reset_url, sources)
            fixture = database.fixture
            fixture.credentials.update(given)
        else:
            fixture = Fixture(tables=Tables(compared=()), csrf=Csrf.from_settings(), credentials=given)
        if live.csrf_secret:
            fixture.csrf = replace(fixture.csrf, secret=live.csrf_secret)
        plan = _plan(project, options, cases, rules)
        if database is not None and not database.fixture.tables.compared:
            plan.notes.append(NO_TABLES)
        skipped: list[Case] = []
        selected = plan.cases
        if database is None:
            # Nothing of the fixture exists on the servers: only safe cases, with the credentials given.
            selected = []
            for case in plan.cases:
                try:
                    prepared = case.prepared(fixture)
                except CaseError as exc:
                    if isinstance(exc.__cause__, IdentityError):
                        skipped.append(case)
                        continue
                    raise CutoverError(str(exc)) from None
                has = (
                    prepared.auth.anonymous
                    or (prepared.auth.scheme, prepared.auth.user) in fixture.credentials
                )
                (selected if prepared.safe and has else skipped).append(prepared)
            if not selected:
                raise CutoverError("no case to run (live mode without a reset database runs only safe cases)")
        runner = ParityRunner(targets[0], targets[1], database, rules=plan.rules, detect_noise=options.noise,
                              fixture=fixture)  # fmt: skip
        selected = _runner_check(runner, selected)
        results = runner.run(selected, on_result=progress(len(selected)) if progress else None)
        names = (live.legacy, live.modern)
        return finish(project, options, results, skipped, fixture, "live", names, plan.routes, plan.notes)


# --- the report ------------------------------------------------------------------------------------------


class _HasSecrets(Protocol):
    def secrets(self) -> set[str]: ...


def finish(
    project: ProjectConfig, options: SessionOptions, results: list[CaseResult], skipped: list[Case],
    fixture: _HasSecrets, mode: str, names: tuple[str, str], routes: list[str], notes: list[str], *,
    blocking: dict[str, list[BlockingCall]] | None = None,
) -> SessionResult:  # fmt: skip
    """The report, the JUnit file and the session's result, from its results (redacted by ``fixture``)."""
    from .render import render_result
    from .report import build_report, merge_previous, write_junit, write_report
    from .verdict import Revision, current_revision

    redactor = Redactor(fixture.secrets())
    revision = current_revision(project.root) or Revision("unknown", True)
    policy = project.parity.blocking
    report = build_report(
        results, redactor, mode=mode, legacy=names[0], modern=names[1], revision=revision, routes=routes,
        blocking=blocking, blocking_policy=policy,
    )  # fmt: skip
    report_path = (options.report or project.parity.report) if options.write_report else None
    if report_path is not None:
        merge_previous(report, report_path, ran={r.case.route for r in results})
        write_report(report, report_path)
    if options.junit is not None:
        write_junit(results, redactor, options.junit, lambda r: render_result(r, redactor), blocking, policy)
    return SessionResult(
        results, skipped, mode, names, redactor, report, report_path, options.junit, notes, routes,
        blocking=blocking or {}, blocking_checked=blocking is not None, blocking_policy=policy,
    )  # fmt: skip
