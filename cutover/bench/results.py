"""The benchmark's results: one point per (scenario, target, connections), the ratios and the targets.

A point's ``endpoint`` is the name of its scenario (``[[bench.scenarios]]``); the run keeps what it
knows of each scenario (name, method, path, identity, whether it is the headline) for the report.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from .loadgen import LoadResult

__all__ = ["BenchRun", "Check", "Point", "Ratio", "checks", "paired_ratio", "ratios", "rps_ratio"]

# Target names. The nginx targets are the same upstream servers behind the front door.
LEGACY, MODERN, FLOOR = "legacy", "modern", "floor"
LEGACY_NGINX, MODERN_NGINX = "legacy+nginx", "modern+nginx"
# modern+nginx with every benchmarked route shadowed at 100% (docs/shadow.md), the comparator running.
MODERN_SHADOW = "modern+nginx+shadow"
# The targets are checked on the headline scenario at this many connections.
HEADLINE_CONNECTIONS = 64
# The IO-bound target: the headline scenario with the database this far (round trip, ms), at this many
# connections; there the event loop's in-flight capacity, not CPU per request, should decide.
IO_LATENCY_MS, IO_CONNECTIONS, IO_WANTED = 5.0, 256, 10.0


@dataclass
class Point:
    """One measured window: wrk's numbers plus the CPU the servers and the database spent in it."""

    endpoint: str
    target: str
    connections: int
    load: LoadResult | None
    server_cpu_s: float = 0.0  # the app server processes (and nginx, for the nginx targets)
    nginx_cpu_s: float = 0.0
    db_cpu_s: float | None = None  # None when the database is not a local process we can see
    loadavg_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    skipped: str | None = None  # why it was not measured
    rps_samples: list[float] = field(default_factory=list)  # every window's req/s when repeated
    settle_s: float = 0.0  # waited for the servers to finish abandoned work before this window
    db_latency_ms: float = 0.0  # round trip added between the apps and the database (0: direct)
    relay_cpu_s: float | None = None  # the delay relay's own CPU in the window (None: no relay)

    @property
    def rps(self) -> float:
        return self.load.rps if self.load else 0.0

    def per_1k(self, seconds: float | None) -> float | None:
        if self.load is None or seconds is None or self.load.requests == 0:
            return None
        return seconds / self.load.requests * 1000

    def as_dict(self) -> dict[str, Any]:
        load = self.load
        return {
            "endpoint": self.endpoint,
            "target": self.target,
            "connections": self.connections,
            "skipped": self.skipped,
            "rps": round(self.rps, 1),
            "rps_samples": self.rps_samples,
            "requests": load.requests if load else 0,
            "errors": load.errors if load else 0,
            "errors_detail": {
                "connect": load.errors_connect,
                "read": load.errors_read,
                "write": load.errors_write,
                "status": load.errors_status,
                "timeout": load.errors_timeout,
            }
            if load
            else None,
            "latency_ms": {
                "p50": load.latency_p50_ms,
                "p90": load.latency_p90_ms,
                "p99": load.latency_p99_ms,
                "max": load.latency_max_ms,
                "mean": load.latency_mean_ms,
            }
            if load
            else None,
            "duration_s": load.duration_s if load else 0.0,
            "server_cpu_s": round(self.server_cpu_s, 3),
            "nginx_cpu_s": round(self.nginx_cpu_s, 3),
            "db_cpu_s": None if self.db_cpu_s is None else round(self.db_cpu_s, 3),
            "server_cpu_s_per_1k": _round(self.per_1k(self.server_cpu_s)),
            "db_cpu_s_per_1k": _round(self.per_1k(self.db_cpu_s)),
            "loadavg_before": list(self.loadavg_before),
            "settle_s": self.settle_s,
            "db_latency_ms": self.db_latency_ms,
            "relay_cpu_s": _round(self.relay_cpu_s),
            "relay_cpu_s_per_1k": _round(self.per_1k(self.relay_cpu_s)),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Point:
        """The inverse of :meth:`as_dict` (the load's byte count is not kept; nothing is derived from it)."""
        errors, latency = raw.get("errors_detail"), raw.get("latency_ms")
        load = None
        if errors is not None and latency is not None:
            load = LoadResult(
                requests=raw["requests"],
                duration_s=raw["duration_s"],
                bytes=0,
                errors_connect=errors["connect"],
                errors_read=errors["read"],
                errors_write=errors["write"],
                errors_status=errors["status"],
                errors_timeout=errors["timeout"],
                latency_p50_ms=latency["p50"],
                latency_p90_ms=latency["p90"],
                latency_p99_ms=latency["p99"],
                latency_max_ms=latency["max"],
                latency_mean_ms=latency["mean"],
            )
        return cls(
            raw["endpoint"],
            raw["target"],
            raw["connections"],
            load,
            server_cpu_s=raw["server_cpu_s"],
            nginx_cpu_s=raw["nginx_cpu_s"],
            db_cpu_s=raw["db_cpu_s"],
            loadavg_before=tuple(raw["loadavg_before"]),  # type: ignore[arg-type]
            skipped=raw["skipped"],
            rps_samples=list(raw.get("rps_samples", [])),
            settle_s=raw.get("settle_s", 0.0),
            # Runs before the latency dimension measured with the database as it was.
            db_latency_ms=raw.get("db_latency_ms", 0.0),
            relay_cpu_s=raw.get("relay_cpu_s"),
        )


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Ratio:
    name: str  # "modern/legacy"
    endpoint: str
    connections: int
    value: float | None  # None when either side was not measured
    db_latency_ms: float = 0.0


@dataclass(frozen=True)
class Check:
    """One of the issue's targets, checked on the headline scenario."""

    name: str
    wanted: str
    value: float | None
    met: bool | None  # None: not measured

    @property
    def status(self) -> str:
        return {True: "met", False: "MISSED", None: "not measured"}[self.met]

    @property
    def shown(self) -> str:
        """The measured value as the target states it: a cost in percent (one decimal, so that a miss by
        a fraction of a point does not read as "10% > 10%"), a ratio as ``0.52x``."""
        if self.value is None:
            return "–"
        return f"{self.value:.1%}" if self.wanted.endswith("%") else f"{self.value:.2f}x"


@dataclass
class BenchRun:
    started: str
    finished: str
    machine: dict[str, Any]
    versions: dict[str, str]
    settings: dict[str, Any]
    points: list[Point] = field(default_factory=list)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scenarios: list[dict[str, Any]] = field(default_factory=list)  # scenarios.scenario_record, in order

    @property
    def headline(self) -> str | None:
        """The scenario the targets are checked on: the one recorded as such, else the first measured."""
        marked = next((s["name"] for s in self.scenarios if s.get("headline")), None)
        if marked is None and self.scenarios:
            marked = self.scenarios[0]["name"]
        return marked or next((p.endpoint for p in self.points), None)

    @property
    def floor(self) -> bool:
        """Whether the floor was one of the run's targets (without one, nothing is compared with it)."""
        return any(p.target == FLOOR for p in self.points)

    def order(self, endpoint: str) -> int:
        names = [s["name"] for s in self.scenarios]
        return names.index(endpoint) if endpoint in names else len(names)

    def point(self, endpoint: str, target: str, connections: int, latency: float = 0.0) -> Point | None:
        for p in self.points:
            key = (p.endpoint, p.target, p.connections, p.db_latency_ms)
            if key == (endpoint, target, connections, latency) and p.skipped is None:
                return p
        return None

    @property
    def latencies(self) -> list[float]:
        """The database latencies the run measured at, in order (``[0.0]`` for a run before they were)."""
        return sorted({p.db_latency_ms for p in self.points}) or [0.0]


IO_CHECK = f"modern/legacy req/s, database {IO_LATENCY_MS:g} ms away, {IO_CONNECTIONS} connections"

RATIOS = [
    ("modern/legacy", MODERN, LEGACY),
    ("modern/floor", MODERN, FLOOR),
    ("legacy/floor", LEGACY, FLOOR),
    ("legacy nginx/direct", LEGACY_NGINX, LEGACY),
    ("modern nginx/direct", MODERN_NGINX, MODERN),
    ("shadow 100%/0%", MODERN_SHADOW, MODERN_NGINX),
]


def paired_ratio(a: Point, b: Point) -> float | None:
    """The median of each round's own ratio, for two points measured in the same rounds (the headline's
    repeats: every target measured in turn in each round, so a round's windows share the machine's load).

    The ratio of the two medians can pair a window of one target from a quiet minute with one of the
    other from a busy minute: on this machine that read 0.95x where the rounds' own ratios were 0.78-0.95x
    (median 0.81x). None when the points were not repeated alike."""
    if len(a.rps_samples) < 2 or len(a.rps_samples) != len(b.rps_samples) or not all(b.rps_samples):
        return None
    return statistics.median(x / y for x, y in zip(a.rps_samples, b.rps_samples, strict=True))


def rps_ratio(a: Point, b: Point) -> float:
    """``a``'s requests/s over ``b``'s (``b`` measured, above zero): :func:`paired_ratio` for points
    repeated alike, else the plain ratio."""
    paired = paired_ratio(a, b)
    return paired if paired is not None else a.rps / b.rps


def ratios(run: BenchRun, *, cpu: bool = False) -> list[Ratio]:
    """Ratios for every endpoint and concurrency where both sides were measured.

    Of requests/s by default (of repeated points, the median of the rounds' own: :func:`paired_ratio`);
    with ``cpu``, of server CPU per request, bottom over top ("modern/legacy"
    = how many times less CPU a modern request costs), which background load on a shared machine
    disturbs far less than throughput.
    """
    keys = sorted(
        {(p.db_latency_ms, p.endpoint, p.connections) for p in run.points},
        key=lambda k: (k[0], run.order(k[1]), k[1], k[2]),
    )
    out = []
    for name, top, bottom in RATIOS:
        if FLOOR in (top, bottom) and not run.floor:
            continue
        for latency, endpoint, connections in keys:
            a = run.point(endpoint, top, connections, latency)
            b = run.point(endpoint, bottom, connections, latency)
            value: float | None = None
            if a and b and not cpu and b.rps > 0:
                value = rps_ratio(a, b)
            elif a and b and cpu:
                ca, cb = a.per_1k(a.server_cpu_s), b.per_1k(b.server_cpu_s)
                value = cb / ca if ca and cb else None
            if a or b:
                out.append(Ratio(name, endpoint, connections, value, latency))
    return out


def checks(run: BenchRun) -> list[Check]:
    """The issue's targets on the headline scenario at 64 connections (modern/floor only with a floor)."""
    every = ratios(run)
    by_name = {
        r.name: r.value
        for r in every
        if (r.endpoint, r.connections, r.db_latency_ms) == (run.headline, HEADLINE_CONNECTIONS, 0.0)
    }

    def check(name: str, wanted: str, value: float | None, ok: bool) -> Check:
        return Check(name, wanted, value, None if value is None else ok)

    modern_legacy = by_name.get("modern/legacy")
    modern_floor = by_name.get("modern/floor")
    nginx = [v for k, v in by_name.items() if k.endswith("nginx/direct") and v is not None]
    worst_nginx = min(nginx) if nginx else None
    floor = [check("modern/floor req/s", ">= 0.8x", modern_floor, (modern_floor or 0) >= 0.8)]
    # The IO-bound target, only in a run that measured the database that far.
    io = next(
        (
            r.value
            for r in every
            if r.name == "modern/legacy"
            and (r.endpoint, r.connections, r.db_latency_ms) == (run.headline, IO_CONNECTIONS, IO_LATENCY_MS)
        ),
        None,
    )
    io_check = check(IO_CHECK, f">= {IO_WANTED:.1f}x", io, (io or 0) >= IO_WANTED)
    io_measured = any(p.db_latency_ms == IO_LATENCY_MS for p in run.points)
    return [
        check("modern/legacy req/s", ">= 3.0x", modern_legacy, (modern_legacy or 0) >= 3.0),
        *(floor if run.floor else []),
        check(
            "nginx cost (worst of legacy, modern)",
            "<= 10%",
            None if worst_nginx is None else 1 - worst_nginx,
            (worst_nginx or 0) >= 0.9,
        ),
        *([io_check] if io_measured else []),
    ]
