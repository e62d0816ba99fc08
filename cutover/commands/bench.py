"""``cutover bench``: what the async port buys, measured side by side (what ``make bench`` runs)."""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..bench.dataset import BENCH_DATA_DIR, bench_database, prepare_dataset, scenarios_for
from ..bench.harness import Plan, new_run, now, profile_targets, sweep
from ..bench.latency import (
    LatencyUnavailable,
    delayed_database,
    format_latency,
    netem_unavailable,
    parse_latencies,
)
from ..bench.loadgen import ensure_wrk, wrk_version
from ..bench.machine import describe_machine, versions
from ..bench.profile import project_packages, py_spy
from ..bench.report import rerender, write_results
from ..bench.results import FLOOR, BenchRun, Point, checks
from ..bench.scenarios import Scenario
from ..bench.servers import postgres_pids, running, worker_processes
from ..bench.targets import ALL_TARGETS, build_targets, pool_budget
from ..config import BenchScenario, ConfigError, ProjectConfig
from ..database import child_env, parse_url
from ..errors import CutoverError, reports_errors
from ..runner import Service
from . import project_config

console = Console(highlight=False, soft_wrap=True)

FULL_LEVELS, QUICK_LEVELS = (8, 64, 256), (8, 64)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def _csv(raw: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [x.strip() for x in raw.split(",") if x.strip()]
    unknown = [x for x in items if x not in allowed]
    if unknown or not items:
        raise CutoverError(
            f"unknown {what} {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}"
        )
    return items


def _levels(raw: str, option: str = "--concurrency") -> tuple[int, ...]:
    try:
        levels = tuple(int(x) for x in raw.split(",") if x.strip())
    except ValueError:
        levels = ()
    if not levels or min(levels) < 1 or max(levels) > 1024:
        raise CutoverError(f"{option} wants comma-separated numbers of connections in 1..1024, got {raw!r}")
    return levels


def bench(
    ctx: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="Smoke run: 8 and 64 connections, 1 s warm-up, 3 s.")
    ] = False,
    targets: Annotated[
        str | None,
        typer.Option(help="Comma-separated targets (default: all; the floor only with [bench] floor)."),
    ] = None,
    scenarios: Annotated[
        str | None,
        typer.Option(
            "--scenarios",
            "--endpoints",
            help="Comma-separated names of [[bench.scenarios]] (default: all, in the config's order).",
        ),
    ] = None,
    concurrency: Annotated[
        str | None,
        typer.Option(help="Connections per level, e.g. 8,64,256; given, it wins over every scenario's own."),
    ] = None,
    warmup: Annotated[
        int | None, typer.Option(help="Warm-up seconds per point (given: wins over the scenarios').")
    ] = None,
    duration: Annotated[
        int | None, typer.Option(help="Measured seconds per point (given: wins over the scenarios').")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes for every server (equal on purpose).")] = 2,
    threads: Annotated[
        int | None,
        typer.Option(help="gunicorn gthread threads per legacy worker (default: [bench] threads, else 4)."),
    ] = None,
    db_latency: Annotated[
        str | None,
        typer.Option(
            "--db-latency",
            help="Round trips added between the apps and PostgreSQL, e.g. 0,1ms,5ms: each one a sweep, "
            "through a delaying relay (default: [bench] db_latency, else 0).",
        ),
    ] = None,
    users: Annotated[int, typer.Option(help="The value of {users} in [bench] seed.")] = 10_000,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="BENCH_DATABASE_URL", help="PostgreSQL URL; default: embedded server."),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option(help="The benchmark's embedded server data directory.")
    ] = BENCH_DATA_DIR,
    out: Annotated[Path, typer.Option(help="Where the JSON and Markdown results go.")] = Path(
        "bench/results"
    ),
    profile: Annotated[
        bool, typer.Option(help="py-spy profiles of the Python servers after the sweep.")
    ] = True,
    rerender_json: Annotated[
        Path | None,
        typer.Option(
            "--rerender",
            help="Write the Markdown of a results JSON again (its .md, beside it) with the current "
            "analysis; measures nothing.",
        ),
    ] = None,
) -> None:
    """Load legacy, modern, both through nginx, and the project's floor with [[bench.scenarios]]; write
    bench/results/."""

    @reports_errors
    def run() -> None:
        if rerender_json is not None:
            _rerender(rerender_json)
            return
        project = project_config(ctx)
        latencies = _latencies(project, db_latency)
        if threads is not None and not 1 <= threads <= 1024:
            raise CutoverError(f"--threads wants a number of threads in 1..1024, got {threads}")
        chosen = _scenarios(project, scenarios)
        names = _targets(project, targets)
        given = {"concurrency": concurrency, "warmup": warmup, "duration": duration}
        plan = Plan(
            scenarios=chosen,
            headline=project.bench.headline.name if project.bench.headline else None,
            concurrency=_levels(concurrency) if concurrency else QUICK_LEVELS if quick else FULL_LEVELS,
            warmup_s=warmup if warmup is not None else 1 if quick else 3,
            duration_s=duration if duration is not None else 3 if quick else 8,
            given=frozenset(k for k, v in given.items() if v is not None),
            workers=workers,
            threads=threads or project.bench.threads or 4,
            headline_repeats=1 if quick else 5,
            db_latency=latencies,
        )
        wrk = ensure_wrk()
        # The command line as typed, for the report; from Python (tests) there is none to quote.
        invoked = Path(sys.argv[0]).name == "cutover" and sys.argv[1:2] == ["bench"]
        command = shlex.join(["cutover", *sys.argv[1:]]) if invoked else "cutover bench (from Python)"
        with bench_database(parse_url(database_url), data_dir) as url:
            console.print(f"preparing the benchmark database at {url.redacted()}", markup=False)
            dataset = prepare_dataset(url, project, users)
            loads = scenarios_for(dataset, project, [s.name for s in chosen])
            db_pids = [] if database_url else postgres_pids(data_dir)
            with tempfile.TemporaryDirectory(prefix="cutover-bench-") as tmp:
                work = Path(tmp)
                requests = [(s.config.method, s.request("route").path) for s in loads]
                record = new_run(
                    plan,
                    describe_machine(),
                    versions(url, {"wrk": wrk_version(wrk)}),
                    {"command": command, "database": dataset.describe()},
                )
                if any(latency > 0 for latency in plan.db_latency):
                    why = netem_unavailable()
                    record.notes.append(
                        f"netem cannot delay a link on this kernel ({why}): the database latency is made by "
                        "the user-space relay"
                        if why
                        else "netem works on this kernel, but the bench makes the database latency with its "
                        "user-space relay (the embedded server does not run in a namespace of its own)"
                    )
                paths: dict[str, str] = {}
                for index, latency in enumerate(plan.db_latency):
                    try:
                        with delayed_database(url, latency, work / "logs") as far:
                            paths[format_latency(latency)] = far.how
                            if latency > 0:
                                console.print(
                                    f"database {format_latency(latency)} away: {far.how}", markup=False
                                )
                            env = child_env(far.url, project, CONN_MAX_AGE="60", **_server_env(project))
                            _sweep_at(
                                record, plan, wrk, names, env, work / f"at-{latency:g}ms", project, requests,
                                loads, db_pids, far.pids, latency, first=index == 0,
                                profile_dir=out / "profiles" if profile and index == 0 else None,
                            )  # fmt: skip
                    except LatencyUnavailable as exc:
                        console.print(
                            f"database {format_latency(latency)} away: not measured: {exc}", markup=False
                        )
                        record.notes.append(f"database {format_latency(latency)} away: not measured: {exc}")
                        record.points += _not_measured(plan, names, str(exc), latency)
                record.settings["database latency"] = paths
                record.machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
                record.finished = now()
        json_path, md_path = write_results(record, out)
        for check in checks(record):
            console.print(
                f"target {check.name} {check.wanted}: {check.status}"
                + ("" if check.value is None else f" ({check.shown})"),
                markup=False,
            )
        console.print(f"results: {md_path} and {json_path}", markup=False)

    run()


def _sweep_at(
    record: BenchRun,
    plan: Plan,
    wrk: str,
    names: list[str],
    env: dict[str, str],
    work: Path,
    project: ProjectConfig,
    requests: list[tuple[str, str]],
    loads: list[Scenario],
    db_pids: list[int],
    delay_pids: tuple[int, ...],
    latency: float,
    *,
    first: bool,
    profile_dir: Path | None,
) -> None:
    """Start every target on ``env``'s database (direct, or through the relay), sweep, profile the headline
    into ``profile_dir`` (None: not), stop them: the servers of one latency never keep another's
    connections."""
    servers = build_targets(
        names, env, work, workers=plan.workers, threads=plan.threads, project=project, requests=requests
    )
    with running(servers.services, work / "logs"):
        if first:
            workers_seen = _worker_counts(servers.services)
            record.settings.update(
                {
                    **{f"{n} servers": "; ".join(t.argv) or t.missing for n, t in servers.targets.items()},
                    "worker processes (counted while running)": workers_seen,
                    "database connections": pool_budget(plan.workers, plan.threads),
                    "server environment ([bench] env)": _server_env(project) or "none",
                }
            )
            unequal = {n: c for n, c in workers_seen.items() if c != plan.workers}
            if unequal:
                record.notes.append(
                    f"worker processes differ from --workers {plan.workers}: {unequal}; "
                    "ratios between these targets are not at equal workers"
                )
        record.points += sweep(
            wrk, plan, servers.targets, loads, db_pids, on_point=_show, latency=latency, delay_pids=delay_pids
        )
        if profile_dir is None:
            return
        headline = next((s for s in loads if s.name == plan.headline), None)
        if headline is None:
            record.notes.append(f"no profiles: the headline scenario {plan.headline!r} was not run")
        elif py_spy() is None:
            record.notes.append("no profiles: py-spy is not installed (pip install 'py-spy>=0.4,<0.5')")
        else:
            profile_dir.mkdir(parents=True, exist_ok=True)
            record.profiles = profile_targets(
                wrk, plan, servers.targets, headline, profile_dir, db_pids=db_pids,
                packages=project_packages(project),
            )  # fmt: skip
            if latency > 0:
                record.notes.append(
                    f"the profiles were taken with the database {format_latency(latency)} off"
                )


def _server_env(project: ProjectConfig) -> dict[str, str]:
    # The config's [bench] env, each variable overridden by the same one in the environment: another pool
    # size can be tried without editing the config (the report states what the servers ran with).
    return {k: os.environ.get(k, v) for k, v in project.bench.env.items()}


def _not_measured(plan: Plan, names: list[str], why: str, latency: float) -> list[Point]:
    return [
        Point(s.name, name, connections, None, skipped=why, db_latency_ms=latency)
        for s in plan.scenarios
        for connections in plan.levels(s)
        for name in names
    ]


def _latencies(project: ProjectConfig, raw: str | None) -> tuple[float, ...]:
    if raw is not None:
        return parse_latencies(raw)
    if project.bench.db_latency is None:
        return (0.0,)
    try:
        return parse_latencies(project.bench.db_latency, option=f"[bench] db_latency in {project.where}")
    except CutoverError as exc:
        raise ConfigError(str(exc)) from None


def _scenarios(project: ProjectConfig, raw: str | None) -> tuple[BenchScenario, ...]:
    configured = project.bench.scenarios
    if not configured:
        raise ConfigError(
            f"nothing to benchmark: {project.where} has no [[bench.scenarios]] (docs/config.md, [bench])"
        )
    if raw is None:
        return configured
    wanted = _csv(raw, tuple(s.name for s in configured), "scenario")
    return tuple(s for s in configured if s.name in wanted)


def _targets(project: ProjectConfig, raw: str | None) -> list[str]:
    if raw is None:
        return [t for t in ALL_TARGETS if t != FLOOR or project.bench.floor is not None]
    names = _csv(raw, ALL_TARGETS, "target")
    if FLOOR in names and project.bench.floor is None:
        raise ConfigError(f"no floor to benchmark: set [bench] floor (module:app) in {project.where}")
    return names


def _rerender(json_path: Path) -> None:
    try:
        md_path = rerender(json_path)
    except OSError as exc:
        raise CutoverError(f"cannot re-render {json_path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CutoverError(
            f"{json_path} is not a `cutover bench` results file ({type(exc).__name__}: {exc})"
        ) from None
    console.print(f"re-rendered: {md_path}", markup=False)


def _worker_counts(services: list[Service]) -> dict[str, int]:
    # nginx's workers are not app workers: the comparison at equal workers is about the app servers.
    return {
        s.name: worker_processes(s.process.pid)
        for s in services
        if s.process is not None and "nginx" not in s.name and s.name != "proxy"
    }


def _show(point: Point) -> None:
    if point.load is None:
        console.print(
            f"{point.endpoint:7} {point.target:13} {point.connections:4}  skipped: {point.skipped}",
            markup=False,
        )
        return
    console.print(
        f"{point.endpoint:7} {point.target:13} {point.connections:4}  {point.rps:9,.1f} req/s  "
        f"p50 {point.load.latency_p50_ms:8.1f} ms  p99 {point.load.latency_p99_ms:8.1f} ms  "
        f"errors {point.load.errors:5}  load {point.loadavg_before[0]:.2f}",
        markup=False,
    )
