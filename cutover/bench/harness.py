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

from ..config import BenchScenario
from ..errors import CutoverError
from ..exit_codes import ExitCode
from . import profile as profiling
from .loadgen import LoadResult, run_wrk
from .results import FLOOR, HEADLINE_CONNECTIONS, IO_CONNECTIONS, LEGACY, MODERN, BenchRun, Point
from .scenarios import Scenario, scenario_record
from .servers import cpu_seconds, cpu_spent, settle, tree_pids
from .targets import Target

__all__ = [
    "Plan",
    "measure",
    "median_point",
    "new_run",
    "now",
    "preflight",
    "profile_targets",
    "sweep",
]


@dataclass(frozen=True)
class Plan:
    """How much load, for how long: the settings the report states.

    A scenario's own ``concurrency``, ``warmup`` and ``duration`` win over the plan's defaults, and the
    options given on the command line (``given``) win over both.
    """

    scenarios: tuple[BenchScenario, ...] = ()
    headline: str | None = None  # the scenario the targets are checked on
    concurrency: tuple[int, ...] = (8, 64, 256)
    warmup_s: int = 3
    duration_s: int = 8
    given: frozenset[str] = frozenset()  # of "concurrency", "warmup", "duration"
    timeout_s: int = 10
    wrk_threads: int = 2
    workers: int = 2
    threads: int = 4  # gunicorn gthread threads per worker (the legacy)
    headline_repeats: int = 5  # windows of the headline scenario at HEADLINE_CONNECTIONS, the median kept
    db_latency: tuple[float, ...] = (0.0,)  # round trips (ms) added between the apps and the database
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))

    def levels(self, scenario: BenchScenario) -> tuple[int, ...]:
        own = scenario.concurrency
        return own if own is not None and "concurrency" not in self.given else self.concurrency

    def warmup(self, scenario: BenchScenario) -> int:
        own = scenario.warmup
        return own if own is not None and "warmup" not in self.given else self.warmup_s

    def duration(self, scenario: BenchScenario) -> int:
        own = scenario.duration
        return own if own is not None and "duration" not in self.given else self.duration_s

    def repeats(self, scenario: str, connections: int, latency: float) -> int:
        """Windows of one point: the headline's, where a target is checked, are repeated (median kept):
        at HEADLINE_CONNECTIONS with the database as it is, at IO_CONNECTIONS with it far."""
        checked = IO_CONNECTIONS if latency > 0 else HEADLINE_CONNECTIONS
        return self.headline_repeats if (scenario, connections) == (self.headline, checked) else 1

    def settings(self) -> dict[str, Any]:
        out = asdict(self)
        del out["scenarios"], out["given"]
        out["concurrency"] = list(self.concurrency)
        out["db_latency"] = list(self.db_latency)
        out["scenarios"] = {
            s.name: {
                "concurrency": list(self.levels(s)),
                "warmup_s": self.warmup(s),
                "duration_s": self.duration(s),
            }
            for s in self.scenarios
        }
        return out


def preflight(scenario: Scenario, target: Target, prefix: str) -> str | None:
    """One request the way the load will send it: None if it is answered as expected, else why not."""
    request = scenario.request(f"{prefix}pre")
    want = scenario.config.status
    try:
        r = httpx.request(
            request.method,
            target.base_url + request.path,
            headers=list(request.headers),
            content=request.body.encode() if request.body is not None else None,
            timeout=30,
        )
    except httpx.HTTPError as exc:
        return f"preflight request failed: {exc}"
    if r.status_code != want:
        return f"preflight answered {r.status_code} (wanted {want}): {r.text[:120]}"
    return None


def _pids(target: Target) -> tuple[list[int], list[int]]:
    """(app server pids, nginx pids) of a target right now."""
    servers = [pid for s in target.services if s.process for pid in tree_pids(s.process.pid)]
    nginx = tree_pids(target.nginx.process.pid) if target.nginx and target.nginx.process else []
    return servers, nginx


def measure(
    wrk: str,
    plan: Plan,
    scenario: Scenario,
    target: Target,
    connections: int,
    db_pids: list[int],
    *,
    prefix: str,
    quiet: Callable[[], float] = lambda: 0.0,
    warm: bool = True,
    latency: float = 0.0,
    delay_pids: tuple[int, ...] = (),
) -> Point:
    """Warm up, then one measured window with the servers' and the database's CPU time around it.

    ``quiet`` waits until the servers have finished abandoned work; it runs before the warm-up and
    between the warm-up and the window. ``prefix`` makes the window's ``{unique}`` values its own.
    ``delay_pids``: the processes that make the database ``latency`` ms away (the relay), timed apart.
    """
    url = target.base_url + "/"
    settled = quiet()
    warmup = plan.warmup(scenario.config)
    if warm and warmup > 0:
        run_wrk(
            wrk,
            url,
            scenario.lua(prefix + "w"),
            connections=connections,
            duration=warmup,
            threads=plan.wrk_threads,
            timeout=plan.timeout_s,
        )
        settled += quiet()
    loadavg = tuple(round(x, 2) for x in os.getloadavg())
    servers, nginx = _pids(target)
    db_before = _db_tree(db_pids)
    before = cpu_seconds([*servers, *nginx, *db_before, *delay_pids])
    load = run_wrk(
        wrk,
        url,
        scenario.lua(prefix),
        connections=connections,
        duration=plan.duration(scenario.config),
        threads=plan.wrk_threads,
        timeout=plan.timeout_s,
    )
    servers_after, nginx_after = _pids(target)
    db_after = _db_tree(db_pids)
    after = cpu_seconds({*servers, *servers_after, *nginx, *nginx_after, *db_after, *delay_pids})

    def spent(pids: set[int]) -> float:
        return cpu_spent(
            {p: t for p, t in before.items() if p in pids}, {p: t for p, t in after.items() if p in pids}
        )

    nginx_cpu = spent(set(nginx) | set(nginx_after))
    return Point(
        scenario.name,
        target.name,
        connections,
        load,
        server_cpu_s=spent(set(servers) | set(servers_after)) + nginx_cpu,
        nginx_cpu_s=nginx_cpu,
        db_cpu_s=spent(set(db_before) | set(db_after)) if db_pids else None,
        loadavg_before=(loadavg[0], loadavg[1], loadavg[2]),
        settle_s=round(settled, 1),
        db_latency_ms=latency,
        relay_cpu_s=spent(set(delay_pids)) if delay_pids else None,
    )


def _db_tree(db_pids: list[int]) -> list[int]:
    # Backends come and go with connections: re-read the postmaster's children after the window.
    return tree_pids(db_pids[0]) if db_pids else []


def sweep(
    wrk: str,
    plan: Plan,
    targets: dict[str, Target],
    scenarios: list[Scenario],
    db_pids: list[int],
    on_point: Callable[[Point], None] = lambda p: None,
    *,
    latency: float = 0.0,
    delay_pids: tuple[int, ...] = (),
) -> list[Point]:
    """Every scenario x concurrency x target, with the database ``latency`` ms away (through
    ``delay_pids``); targets interleaved so that background load hits all alike."""
    points: list[Point] = []

    def every_pid() -> list[int]:
        found = [p for t in targets.values() for p in [*_pids(t)[0], *_pids(t)[1]]]
        return sorted(set(found) | set(_db_tree(db_pids)) | set(delay_pids))

    def quiet() -> float:
        return settle(every_pid)

    # In every {unique} value: each latency's sweep signs its users (the preflight's too) up anew.
    at = f"l{latency:g}".replace(".", "_")
    for scenario in scenarios:
        broken: dict[str, str] = {}
        for index, (name, target) in enumerate(targets.items()):
            reason = target.missing or preflight(scenario, target, f"b{plan.run_id}p{index}{at}")
            if reason:
                broken[name] = reason
        for connections in plan.levels(scenario.config):
            # The headline scenario decides the targets: repeated, and the median run kept, so that one
            # window disturbed by the machine's other work does not decide a ratio.
            samples: dict[str, list[Point]] = {name: [] for name in targets}
            for round_ in range(plan.repeats(scenario.name, connections, latency)):
                for index, (name, target) in enumerate(targets.items()):
                    if name in broken:
                        point = Point(
                            scenario.name,
                            name,
                            connections,
                            None,
                            skipped=broken[name],
                            db_latency_ms=latency,
                        )
                    else:
                        prefix = f"b{plan.run_id}{index}c{connections}r{round_}{at}"
                        try:
                            point = measure(
                                wrk,
                                plan,
                                scenario,
                                target,
                                connections,
                                db_pids,
                                prefix=prefix,
                                quiet=quiet,
                                # The repeats of the headline follow a warm server: no second warm-up.
                                warm=round_ == 0,
                                latency=latency,
                                delay_pids=delay_pids,
                            )
                        except CutoverError as exc:
                            point = Point(
                                scenario.name,
                                name,
                                connections,
                                None,
                                skipped=str(exc),
                                db_latency_ms=latency,
                            )
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
    scenario: Scenario,
    out_dir: Path,
    duration: int = 6,
    db_pids: list[int] | None = None,
    packages: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, dict[str, Any]]:
    """py-spy profiles of the Python targets on ``scenario`` (the headline), after (not during) the
    measurements. ``packages``: each target's own packages (:func:`.profile.project_packages`)."""
    executable = profiling.py_spy()
    if executable is None:
        raise CutoverError(
            "py-spy is not installed: pip install 'py-spy>=0.4,<0.5' (or run with --no-profile)",
            ExitCode.USAGE,
        )
    packages = packages or {}
    project = sorted({p for own in packages.values() for p in own})
    out: dict[str, dict[str, Any]] = {}
    for name in (MODERN, LEGACY, FLOOR):
        target = targets.get(name)
        if target is None or target.missing or not target.services or target.services[0].process is None:
            continue
        raw = out_dir / f"profile-{name}.txt"
        # Quiet first: a profile of leftover work (abandoned requests still running) would explain nothing.
        settle(lambda: [p for t in targets.values() for p in _pids(t)[0]] + _db_tree(db_pids or []))
        sampler = profiling.record(executable, target.services[0].process.pid, duration, raw)
        time.sleep(0.5)  # let py-spy attach before the load starts
        load: LoadResult = run_wrk(
            wrk,
            target.base_url + "/",
            scenario.lua(f"b{plan.run_id}profile{name}"),
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
        text = raw.read_text(encoding="utf-8", errors="replace")
        summary = profiling.summarize_collapsed(text, project=project)
        summary["description"] = (
            f"py-spy, {scenario.name} at {HEADLINE_CONNECTIONS} connections, all worker processes, "
            "samples of threads holding the GIL (Python-level CPU; C code that releases the GIL, such as "
            "socket waits, is not in it)."
        )
        summary["rps_under_profile"] = round(load.rps, 1)
        summary["raw"] = raw.name
        summary["own"] = list(packages.get(name, ()))
        out[name] = summary
    return out


def now() -> str:
    """The current UTC time as the report writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run(plan: Plan, machine: dict[str, Any], versions: dict[str, str], extra: dict[str, Any]) -> BenchRun:
    """A run record with the plan's settings merged into ``extra`` (the command, servers, pools)."""
    return BenchRun(
        started=now(),
        finished="",
        machine=machine,
        versions=versions,
        settings={**extra, **plan.settings()},
        scenarios=[scenario_record(s, headline=s.name == plan.headline) for s in plan.scenarios],
    )
