"""The benchmark run: database, servers, warm-up and measured windows, profiles, results."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ..errors import CutoverError
from ..exit_codes import ExitCode
from . import profile as profiling
from .dataset import BENCH_EMAIL_DOMAIN, Dataset
from .loadgen import LoadResult, run_wrk
from .results import FLOOR, HEADLINE_CONNECTIONS, HEADLINE_ENDPOINT, LEGACY, MODERN, BenchRun, Point
from .servers import cpu_seconds, cpu_spent, settle, tree_pids
from .targets import Target

__all__ = [
    "ENDPOINTS",
    "Plan",
    "measure",
    "median_point",
    "new_run",
    "now",
    "preflight",
    "profile_targets",
    "sweep",
]

ENDPOINTS = ("detail", "search", "signup")


@dataclass(frozen=True)
class Plan:
    """How much load, for how long: the settings the report states."""

    endpoints: tuple[str, ...] = ENDPOINTS
    concurrency: tuple[int, ...] = (8, 64, 256)
    # Sign-up is bound by PBKDF2 (~0.5 s of CPU per request, a few per second on a small machine): at 64
    # connections its latency passes wrk's timeout and the abandoned hashes keep the cores busy long after
    # the window, so it is loaded at levels where it answers (see docs/performance.md).
    signup_concurrency: tuple[int, ...] = (2, 8)
    # ...and over a longer window: concurrent hashes share the cores, so they all finish late together; a
    # window shorter than one such round would count nothing at all.
    signup_duration_s: int = 15
    warmup_s: int = 3
    duration_s: int = 8
    timeout_s: int = 10
    wrk_threads: int = 2
    workers: int = 2
    threads: int = 4  # gunicorn gthread threads per worker (the legacy)
    headline_repeats: int = 5  # windows of the headline scenario (detail at 64), the median kept
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))

    def settings(self) -> dict[str, Any]:
        out = asdict(self)
        out["concurrency"] = list(self.concurrency)
        out["signup_concurrency"] = list(self.signup_concurrency)
        out["endpoints"] = list(self.endpoints)
        return out


def _wrk_args(endpoint: str, dataset: Dataset, prefix: str) -> tuple[str, list[str]]:
    if endpoint == "detail":
        return "detail", [dataset.token, str(dataset.min_id), str(dataset.max_id)]
    if endpoint == "search":
        return "search", [dataset.token, dataset.search, str(dataset.search_pages)]
    if endpoint == "signup":
        return "signup", [prefix, BENCH_EMAIL_DOMAIN]
    raise CutoverError(f"unknown endpoint {endpoint!r} (choose from {', '.join(ENDPOINTS)})")


def preflight(endpoint: str, target: Target, dataset: Dataset, prefix: str) -> str | None:
    """One request the way the load will send it: None if it is answered as expected, else why not."""
    auth = {"Authorization": f"Token {dataset.token}"}
    base = target.base_url
    try:
        if endpoint == "detail":
            r = httpx.get(f"{base}/api/users/{dataset.min_id}/", headers=auth, timeout=30)
            want, key = 200, "username"
        elif endpoint == "search":
            r = httpx.get(
                f"{base}/api/users/", params={"page": 1, "search": dataset.search}, headers=auth, timeout=30
            )
            want, key = 200, "results"
        else:
            name = f"{prefix}pre"
            body = {
                "username": name,
                "email": f"{name}@{BENCH_EMAIL_DOMAIN}",
                "password": "Bench-pass-2026!",
                "first_name": "Bench",
                "last_name": "Load",
            }
            r = httpx.post(f"{base}/api/users/", json=body, timeout=30)
            want, key = 201, "id"
    except httpx.HTTPError as exc:
        return f"preflight request failed: {exc}"
    if r.status_code != want:
        return f"preflight answered {r.status_code} (wanted {want}): {r.text[:120]}"
    try:
        ok = key in r.json()
    except ValueError:
        ok = False
    return None if ok else f"preflight body lacks {key!r}: {r.text[:120]}"


def _pids(target: Target) -> tuple[list[int], list[int]]:
    """(app server pids, nginx pids) of a target right now."""
    servers = [pid for s in target.services if s.process for pid in tree_pids(s.process.pid)]
    nginx = tree_pids(target.nginx.process.pid) if target.nginx and target.nginx.process else []
    return servers, nginx


def measure(
    wrk: str,
    plan: Plan,
    endpoint: str,
    target: Target,
    connections: int,
    dataset: Dataset,
    db_pids: list[int],
    *,
    prefix: str,
    quiet: Callable[[], float] = lambda: 0.0,
    warm: bool = True,
) -> Point:
    """Warm up, then one measured window with the servers' and the database's CPU time around it.

    ``quiet`` waits until the servers have finished abandoned work; it runs before the warm-up and
    between the warm-up and the window.
    """
    script, args = _wrk_args(endpoint, dataset, prefix)
    url = target.base_url + "/"
    settled = quiet()
    # Sign-up needs none: the preflight already took its one-off costs (validators' word list, the first
    # hash), and a warm-up's abandoned hashes would only have to be waited out.
    if warm and plan.warmup_s > 0 and endpoint != "signup":
        warm_args = [args[0] + "w", *args[1:]] if endpoint == "signup" else args
        run_wrk(
            wrk,
            url,
            script,
            warm_args,
            connections=connections,
            duration=plan.warmup_s,
            threads=plan.wrk_threads,
            timeout=plan.timeout_s,
        )
        settled += quiet()
    loadavg = tuple(round(x, 2) for x in os.getloadavg())
    servers, nginx = _pids(target)
    db_before = _db_tree(db_pids)
    before = cpu_seconds([*servers, *nginx, *db_before])
    load = run_wrk(
        wrk,
        url,
        script,
        args,
        connections=connections,
        duration=plan.signup_duration_s if endpoint == "signup" else plan.duration_s,
        threads=plan.wrk_threads,
        timeout=plan.timeout_s,
    )
    servers_after, nginx_after = _pids(target)
    db_after = _db_tree(db_pids)
    after = cpu_seconds({*servers, *servers_after, *nginx, *nginx_after, *db_after})

    def spent(pids: set[int]) -> float:
        return cpu_spent(
            {p: t for p, t in before.items() if p in pids}, {p: t for p, t in after.items() if p in pids}
        )

    nginx_cpu = spent(set(nginx) | set(nginx_after))
    return Point(
        endpoint,
        target.name,
        connections,
        load,
        server_cpu_s=spent(set(servers) | set(servers_after)) + nginx_cpu,
        nginx_cpu_s=nginx_cpu,
        db_cpu_s=spent(set(db_before) | set(db_after)) if db_pids else None,
        loadavg_before=(loadavg[0], loadavg[1], loadavg[2]),
        settle_s=round(settled, 1),
    )


def _db_tree(db_pids: list[int]) -> list[int]:
    # Backends come and go with connections: re-read the postmaster's children after the window.
    return tree_pids(db_pids[0]) if db_pids else []


def sweep(
    wrk: str,
    plan: Plan,
    targets: dict[str, Target],
    dataset: Dataset,
    db_pids: list[int],
    on_point: Callable[[Point], None] = lambda p: None,
) -> list[Point]:
    """Every endpoint x concurrency x target; targets interleaved so that background load hits all alike."""
    points: list[Point] = []

    def every_pid() -> list[int]:
        found = [p for t in targets.values() for p in [*_pids(t)[0], *_pids(t)[1]]]
        return sorted(set(found) | set(_db_tree(db_pids)))

    def quiet() -> float:
        return settle(every_pid)

    for endpoint in plan.endpoints:
        broken: dict[str, str] = {}
        for index, (name, target) in enumerate(targets.items()):
            reason = target.missing or preflight(endpoint, target, dataset, f"b{plan.run_id}p{index}")
            if reason:
                broken[name] = reason
        for connections in plan.signup_concurrency if endpoint == "signup" else plan.concurrency:
            # The headline scenario decides the targets: repeated, and the median run kept, so that one
            # window disturbed by the machine's other work does not decide a ratio.
            headline = (endpoint, connections) == (HEADLINE_ENDPOINT, HEADLINE_CONNECTIONS)
            samples: dict[str, list[Point]] = {name: [] for name in targets}
            for round_ in range(plan.headline_repeats if headline else 1):
                for index, (name, target) in enumerate(targets.items()):
                    if name in broken:
                        point = Point(endpoint, name, connections, None, skipped=broken[name])
                    else:
                        prefix = f"b{plan.run_id}{index}c{connections}r{round_}"
                        try:
                            point = measure(
                                wrk,
                                plan,
                                endpoint,
                                target,
                                connections,
                                dataset,
                                db_pids,
                                prefix=prefix,
                                quiet=quiet,
                                # The repeats of the headline follow a warm server: no second warm-up.
                                warm=round_ == 0,
                            )
                        except CutoverError as exc:
                            point = Point(endpoint, name, connections, None, skipped=str(exc))
                    samples[name].append(point)
                    on_point(point)
            points.extend(median_point(runs) for runs in samples.values())
    return points


def median_point(runs: list[Point]) -> Point:
    """The run with the median throughput, carrying every run's req/s; a skipped run wins only if all are."""
    measured = sorted((p for p in runs if p.load is not None), key=lambda p: p.rps)
    if not measured:
        return runs[0]
    chosen = measured[(len(measured) - 1) // 2]
    if len(runs) > 1:
        chosen.rps_samples = [round(p.rps, 1) for p in runs if p.load is not None]
    return chosen


def profile_targets(
    wrk: str,
    plan: Plan,
    targets: dict[str, Target],
    dataset: Dataset,
    out_dir: Path,
    duration: int = 6,
    db_pids: list[int] | None = None,
) -> dict[str, dict[str, Any]]:
    """py-spy profiles of the Python targets on the headline scenario, after (not during) the measurements."""
    executable = profiling.py_spy()
    if executable is None:
        raise CutoverError(
            "py-spy is not installed: pip install 'py-spy>=0.4,<0.5' (or run with --no-profile)",
            ExitCode.USAGE,
        )
    out: dict[str, dict[str, Any]] = {}
    for name in (MODERN, LEGACY, FLOOR):
        target = targets.get(name)
        if target is None or target.missing or not target.services or target.services[0].process is None:
            continue
        raw = out_dir / f"profile-{name}.txt"
        # Quiet first: a profile of leftover work (abandoned sign-ups still hashing) would explain nothing.
        settle(lambda: [p for t in targets.values() for p in _pids(t)[0]] + _db_tree(db_pids or []))
        sampler = profiling.record(executable, target.services[0].process.pid, duration, raw)
        time.sleep(0.5)  # let py-spy attach before the load starts
        script, args = _wrk_args(HEADLINE_ENDPOINT, dataset, "")
        load: LoadResult = run_wrk(
            wrk,
            target.base_url + "/",
            script,
            args,
            connections=HEADLINE_CONNECTIONS,
            duration=duration - 1,
            threads=plan.wrk_threads,
            timeout=plan.timeout_s,
        )
        _, err = sampler.communicate(timeout=duration + 30)
        if sampler.returncode != 0 or not raw.exists():
            out[name] = {
                "description": f"py-spy failed: {err.decode(errors='replace').strip()[-200:]}",
                "samples": 0,
            }
            continue
        summary = profiling.summarize_collapsed(raw.read_text(encoding="utf-8", errors="replace"))
        summary["description"] = (
            f"py-spy, {HEADLINE_ENDPOINT} at {HEADLINE_CONNECTIONS} connections, all worker processes, "
            "samples of threads holding the GIL (Python-level CPU; C code that releases the GIL, such as "
            "socket waits, is not in it)."
        )
        summary["rps_under_profile"] = round(load.rps, 1)
        summary["raw"] = raw.name
        out[name] = summary
    return out


def now() -> str:
    """The current UTC time as the report writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run(plan: Plan, machine: dict[str, Any], versions: dict[str, str], extra: dict[str, Any]) -> BenchRun:
    """A run record with the plan's settings merged into ``extra`` (the command, servers, pools)."""
    return BenchRun(
        started=now(), finished="", machine=machine, versions=versions, settings={**extra, **plan.settings()}
    )
