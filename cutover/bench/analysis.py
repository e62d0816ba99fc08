"""Why a target was missed: the CPU each request costs, and where the profile says it goes."""

from __future__ import annotations

from typing import Any

from .latency import format_latency
from .results import (
    FLOOR,
    HEADLINE_CONNECTIONS,
    IO_CHECK,
    IO_CONNECTIONS,
    IO_LATENCY_MS,
    IO_WANTED,
    LEGACY,
    LEGACY_NGINX,
    MODERN,
    MODERN_NGINX,
    BenchRun,
    Point,
    checks,
    rps_ratio,
)

__all__ = ["explain"]


def _cpu_ms(point: Point | None) -> float | None:
    # Seconds per 1,000 requests is milliseconds per request.
    return None if point is None else point.per_1k(point.server_cpu_s)


OWN_CODE = "the app's own code"


def _db_ms(point: Point | None) -> float | None:
    return None if point is None else point.per_1k(point.db_cpu_s)


def _ms_by_package(profile: dict[str, Any], cpu_ms: float) -> dict[str, float]:
    """Each package's share of the samples applied to the CPU per request: an estimate (the samples cover
    Python code holding the GIL; the CPU figure is all the processes spent, kernel included)."""
    # Each target's own packages (the port's, the floor's) compare as one: what each app does itself.
    own = set(profile.get("own", []))
    out: dict[str, float] = {}
    for package, share in profile.get("by_package", []):
        name = OWN_CODE if package in own else package
        out[name] = out.get(name, 0.0) + share * cpu_ms
    return out


def _package_gap(
    profile: dict[str, Any], cpu_ms: float, baseline: dict[str, Any], baseline_ms: float, top: int = 5
) -> str:
    """Where ``profile`` spends more per request than ``baseline``, largest difference first."""
    ours, theirs = _ms_by_package(profile, cpu_ms), _ms_by_package(baseline, baseline_ms)
    gaps = sorted(((k, v - theirs.get(k, 0.0)) for k, v in ours.items()), key=lambda kv: -kv[1])
    return (
        ", ".join(
            f"{k} +{d:.2f} ms ({ours[k]:.2f} against {theirs.get(k, 0.0):.2f})"
            for k, d in gaps[:top]
            if d >= 0.005
        )
        or "no single package"
    )


def _phases(profile: dict[str, Any], top: int = 5) -> str:
    return ", ".join(f"`{k}` {v:.0%}" for k, v in profile.get("top_inclusive", [])[:top]) or "(no samples)"


def explain(run: BenchRun) -> list[str]:
    """One paragraph per missed target, from CPU per request and the profiles."""
    headline = run.headline or ""
    at = {t: run.point(headline, t, HEADLINE_CONNECTIONS) for t in (LEGACY, MODERN, FLOOR)}
    cpu = {t: _cpu_ms(p) or 0.0 for t, p in at.items()}
    profiles = run.profiles
    out: list[str] = []
    for check in checks(run):
        if check.met is not False:
            continue
        if check.name == IO_CHECK:
            out.append(_in_flight(run, check.shown))
        elif check.name.startswith("modern/legacy") and cpu[MODERN] and cpu[LEGACY]:
            text = (
                f"**modern/legacy {check.shown} < 3x.** A legacy request costs {cpu[LEGACY]:.2f} ms "
                f"of server CPU and a modern one {cpu[MODERN]:.2f} ms ({cpu[LEGACY] / cpu[MODERN]:.1f}x "
                "less): with both stacks CPU-bound on the same cores, throughput can only grow by about "
                "that factor, whatever the concurrency model."
            )
            if MODERN in profiles:
                text += f" Modern's request phases (inclusive CPU): {_phases(profiles[MODERN])}."
            out.append(text)
        elif check.name.startswith("modern/floor") and cpu[MODERN] and cpu[FLOOR]:
            text = (
                f"**modern/floor {check.shown} < 0.8x.** The floor (the project's idealised app) answers "
                f"the same request for {cpu[FLOOR]:.2f} ms of server CPU, modern for {cpu[MODERN]:.2f} ms "
                f"({cpu[MODERN] / cpu[FLOOR]:.1f}x)."
            )
            db_modern, db_floor = _db_ms(at[MODERN]), _db_ms(at[FLOOR])
            if db_modern is not None and db_floor is not None:
                text += (
                    f" PostgreSQL, counted apart, spent {db_modern:.2f} ms per modern request and "
                    f"{db_floor:.2f} ms per floor request."
                )
            if MODERN in profiles and FLOOR in profiles:
                text += (
                    " Per request, estimated from the profiles (each package's share of the samples times "
                    "the CPU per request), modern spends more than the floor in: "
                    f"{_package_gap(profiles[MODERN], cpu[MODERN], profiles[FLOOR], cpu[FLOOR])}; "
                    f"its request phases: {_phases(profiles[MODERN])}."
                )
            out.append(text)
        elif check.name.startswith("nginx"):
            parts = []
            for via, direct in ((LEGACY_NGINX, LEGACY), (MODERN_NGINX, MODERN)):
                p, d = run.point(headline, via, HEADLINE_CONNECTIONS), at.get(direct)
                if p and d and p.load and d.rps:
                    nginx_ms = p.per_1k(p.nginx_cpu_s) or 0.0
                    parts.append(
                        f"{via}: {1 - rps_ratio(p, d):.1%} fewer req/s, nginx itself {nginx_ms:.2f} ms CPU "
                        f"per request against the app's {(_cpu_ms(d) or 0):.2f} ms"
                    )
            out.append(
                f"**nginx cost {check.shown} > 10%.** "
                + "; ".join(parts)
                + ". On a machine whose cores are shared by wrk, nginx, the app and PostgreSQL, every "
                "millisecond nginx spends is taken from the app: the cost is nginx's CPU relative to the "
                "app's."
            )
    return out


def _in_flight(run: BenchRun, shown: str) -> str:
    """The IO-bound ratio from what each stack can have in flight and what each request costs in CPU.

    Little's law: a server that holds N requests in flight, each taking T seconds, answers at most N / T
    requests a second; and C cores at c seconds of CPU a request at most C / c. The lower bound rules.
    """
    headline, far = run.headline or "", IO_LATENCY_MS
    cores = float(run.machine.get("cores") or 1)
    workers, threads = run.settings.get("workers"), run.settings.get("threads")
    parts = [f"**modern/legacy {shown} < {IO_WANTED:g}x with the database {format_latency(far)} away.**"]
    capacity = int(workers) * int(threads) if workers and threads else None
    for target in (LEGACY, MODERN):
        busy = run.point(headline, target, IO_CONNECTIONS, far)
        # A request's own time, not its wait in a queue: from the fewest connections measured, and for the
        # legacy only at or below what its threads hold (beyond that, p50 counts the wait for a thread).
        limit = capacity if target == LEGACY and capacity else IO_CONNECTIONS - 1
        idle = min(
            (
                p
                for p in run.points
                if (p.endpoint, p.target, p.db_latency_ms) == (headline, target, far)
                and p.load
                and p.connections <= limit
            ),
            key=lambda p: p.connections,
            default=None,
        )
        cpu = _cpu_ms(busy)
        if busy is None or busy.load is None or cpu is None:
            continue
        text = (
            f"{target}: {busy.rps:,.0f} req/s at {IO_CONNECTIONS} connections, {cpu:.2f} ms of server CPU a "
            f"request (so at most {cores / cpu * 1000:,.0f} req/s on {cores:g} cores if the server had them "
            "to itself)"
        )
        if idle is not None and idle.load is not None and idle.load.latency_p50_ms > 0:
            text += f"; {idle.load.latency_p50_ms:.1f} ms a request at {idle.connections} connections (p50)"
            if target == LEGACY and capacity:
                bound = capacity / idle.load.latency_p50_ms * 1000
                text += (
                    f", and {workers} x {threads} = {capacity} requests in flight (a gthread thread per "
                    f"request), so at most {bound:,.0f} req/s by capacity"
                )
            elif target == MODERN:
                text += ", with the requests in flight bounded by its pools, not by threads"
        elif target == LEGACY and capacity:
            text += (
                f"; {workers} x {threads} = {capacity} requests in flight (a gthread thread per request); no "
                f"point at {capacity} connections or fewer was measured, so its capacity is not estimated "
                "(beyond it, a request's latency counts its wait for a thread)"
            )
        parts.append(text + ".")
    legacy = _cpu_ms(run.point(headline, LEGACY, IO_CONNECTIONS, far))
    modern = _cpu_ms(run.point(headline, MODERN, IO_CONNECTIONS, far))
    if legacy and modern:
        parts.append(
            "Once the legacy's threads cover its waits, both stacks are CPU-bound again and the ratio tends "
            f"to that of their CPU per request, {legacy / modern:.1f}x: the latency adds waiting, which "
            "threads and an event loop both overlap, not CPU."
        )
    return " ".join(parts)
