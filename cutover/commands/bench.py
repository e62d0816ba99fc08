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

from ..bench.dataset import BENCH_DATA_DIR, bench_database, prepare_dataset
from ..bench.harness import ENDPOINTS, Plan, new_run, now, profile_targets, sweep
from ..bench.loadgen import ensure_wrk, wrk_version
from ..bench.machine import describe_machine, versions
from ..bench.profile import py_spy
from ..bench.report import rerender, write_results
from ..bench.results import Point, checks
from ..bench.servers import postgres_pids, running, worker_processes
from ..bench.targets import ALL_TARGETS, build_targets, pool_budget
from ..database import child_env, parse_url
from ..errors import CutoverError, reports_errors
from ..runner import Service

console = Console(highlight=False, soft_wrap=True)

FULL_LEVELS, QUICK_LEVELS, SIGNUP_LEVELS = (8, 64, 256), (8, 64), (2, 8)


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
    quick: Annotated[
        bool, typer.Option("--quick", help="Smoke run: 8 and 64 connections, 1 s warm-up, 3 s.")
    ] = False,
    targets: Annotated[str, typer.Option(help="Comma-separated targets.")] = ",".join(ALL_TARGETS),
    endpoints: Annotated[str, typer.Option(help="Comma-separated: detail, search, signup.")] = ",".join(
        ENDPOINTS
    ),
    concurrency: Annotated[str | None, typer.Option(help="Connections per level, e.g. 8,64,256.")] = None,
    signup_concurrency: Annotated[
        str | None, typer.Option(help="Connections per level for POST /api/users/ (CPU-bound hashing).")
    ] = None,
    warmup: Annotated[int | None, typer.Option(help="Warm-up seconds per point.")] = None,
    duration: Annotated[int | None, typer.Option(help="Measured seconds per point.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes for every server (equal on purpose).")] = 2,
    threads: Annotated[int, typer.Option(help="gunicorn gthread threads per legacy worker.")] = 4,
    users: Annotated[int, typer.Option(help="Generated users in the benchmark database.")] = 10_000,
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
    """Load legacy, modern, both through nginx, and a bare Starlette+asyncpg floor; write bench/results/."""

    @reports_errors
    def run() -> None:
        if rerender_json is not None:
            _rerender(rerender_json)
            return
        wrk = ensure_wrk()
        plan = Plan(
            endpoints=tuple(_csv(endpoints, ENDPOINTS, "endpoint")),
            concurrency=_levels(concurrency) if concurrency else QUICK_LEVELS if quick else FULL_LEVELS,
            signup_concurrency=(
                _levels(signup_concurrency, "--signup-concurrency") if signup_concurrency else SIGNUP_LEVELS
            ),
            signup_duration_s=8 if quick else 15,
            warmup_s=warmup if warmup is not None else 1 if quick else 3,
            duration_s=duration if duration is not None else 3 if quick else 8,
            workers=workers,
            threads=threads,
            headline_repeats=1 if quick else 5,
        )
        names = _csv(targets, ALL_TARGETS, "target")
        # The command line as typed, for the report; from Python (tests) there is none to quote.
        invoked = Path(sys.argv[0]).name == "cutover" and sys.argv[1:2] == ["bench"]
        command = shlex.join(["cutover", *sys.argv[1:]]) if invoked else "cutover bench (from Python)"
        with bench_database(parse_url(database_url), data_dir) as url:
            console.print(f"preparing the benchmark database ({users:,} users) at {url.redacted()}")
            dataset = prepare_dataset(url, users)
            db_pids = [] if database_url else postgres_pids(data_dir)
            with tempfile.TemporaryDirectory(prefix="cutover-bench-") as tmp:
                work = Path(tmp)
                env = child_env(url, CONN_MAX_AGE="60")
                servers = build_targets(names, env, work, workers=plan.workers, threads=plan.threads)
                with running(servers.services, work / "logs"):
                    workers_seen = _worker_counts(servers.services)
                    record = new_run(
                        plan,
                        describe_machine(),
                        versions(url, {"wrk": wrk_version(wrk)}),
                        {
                            "command": command,
                            "database": f"{dataset.users:,} users; search {dataset.search!r} spans "
                            f"{dataset.search_pages} pages",
                            **{
                                f"{n} servers": "; ".join(t.argv) or t.missing
                                for n, t in servers.targets.items()
                            },
                            "worker processes (counted while running)": workers_seen,
                            "database connections": pool_budget(plan.workers, plan.threads),
                        },
                    )
                    unequal = {n: c for n, c in workers_seen.items() if c != plan.workers}
                    if unequal:
                        record.notes.append(
                            f"worker processes differ from --workers {plan.workers}: {unequal}; "
                            "ratios between these targets are not at equal workers"
                        )
                    record.points = sweep(wrk, plan, servers.targets, dataset, db_pids, on_point=_show)
                    if profile and py_spy() is None:
                        record.notes.append(
                            "no profiles: py-spy is not installed (pip install 'py-spy>=0.4,<0.5')"
                        )
                    elif profile:
                        profile_dir = out / "profiles"
                        profile_dir.mkdir(parents=True, exist_ok=True)
                        record.profiles = profile_targets(
                            wrk, plan, servers.targets, dataset, profile_dir, db_pids=db_pids
                        )
                    record.machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
                    record.finished = now()
        json_path, md_path = write_results(record, out)
        for check in checks(record):
            console.print(
                f"target {check.name} {check.wanted}: {check.status}"
                + ("" if check.value is None else f" ({check.shown})")
            )
        console.print(f"results: {md_path} and {json_path}")

    run()


def _rerender(json_path: Path) -> None:
    try:
        md_path = rerender(json_path)
    except OSError as exc:
        raise CutoverError(f"cannot re-render {json_path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CutoverError(
            f"{json_path} is not a `cutover bench` results file ({type(exc).__name__}: {exc})"
        ) from None
    console.print(f"re-rendered: {md_path}")


def _worker_counts(services: list[Service]) -> dict[str, int]:
    # nginx's workers are not app workers: the comparison at equal workers is about the app servers.
    return {
        s.name: worker_processes(s.process.pid)
        for s in services
        if s.process is not None and "nginx" not in s.name and s.name != "proxy"
    }


def _show(point: Point) -> None:
    if point.load is None:
        console.print(f"{point.endpoint:7} {point.target:13} {point.connections:4}  skipped: {point.skipped}")
        return
    console.print(
        f"{point.endpoint:7} {point.target:13} {point.connections:4}  {point.rps:9,.1f} req/s  "
        f"p50 {point.load.latency_p50_ms:8.1f} ms  p99 {point.load.latency_p99_ms:8.1f} ms  "
        f"errors {point.load.errors:5}  load {point.loadavg_before[0]:.2f}"
    )
