"""The traffic figures as Prometheus metrics (prometheus-client), for teams that already have Grafana.

A custom collector: every scrape reads what the access log gained since the last one, then reports the
sliding-window figures per route and backend, the actual modern share per route, and monotonic request
counters per route, backend and status class (from which Prometheus computes any rate of its own).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .access_log import LogFollower
from .windows import Windows


class TrafficCollector(Collector):
    def __init__(
        self, follower: LogFollower, windows: Windows, clock: Callable[[], float] = time.time
    ) -> None:
        self.follower = follower
        self.windows = windows
        self.clock = clock
        self.totals: Counter[tuple[str, str, str]] = Counter()  # (route, backend, status class)

    def update(self) -> None:
        entries = self.follower.read()
        for entry in entries:
            self.totals[(entry.route, entry.served_by, f"{entry.status // 100}xx")] += 1
        self.windows.add(entries)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        self.update()
        now = self.clock()
        span = f"over the last {self.windows.span:g} s"
        labels = ["route", "backend"]
        rps = GaugeMetricFamily("cutover_requests_per_second", f"Requests per second {span}", labels=labels)
        errors = GaugeMetricFamily("cutover_error_ratio", f"Share of 5xx answers {span}", labels=labels)
        p50 = GaugeMetricFamily("cutover_latency_p50_seconds", f"Median request time {span}", labels=labels)
        p99 = GaugeMetricFamily("cutover_latency_p99_seconds", f"99th percentile {span}", labels=labels)
        for f in self.windows.figures(now):
            rps.add_metric([f.route, f.backend], f.per_second)
            errors.add_metric([f.route, f.backend], f.error_rate)
            if f.p50 is not None and f.p99 is not None:
                p50.add_metric([f.route, f.backend], f.p50)
                p99.add_metric([f.route, f.backend], f.p99)
        share = GaugeMetricFamily(
            "cutover_modern_share", f"Share of a route's requests sent to modern {span}", labels=["route"]
        )
        for route, value in self.windows.modern_share(now).items():
            share.add_metric([route], value)
        total = CounterMetricFamily(
            "cutover_requests", "Requests through the front door", labels=[*labels, "status"]
        )
        for (route, backend, status), count in sorted(self.totals.items()):
            total.add_metric([route, backend, status], count)
        yield from (rps, errors, p50, p99, share, total)


def registry_for(collector: TrafficCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The text a Prometheus scrape of ``/metrics`` gets."""
    return generate_latest(registry)


__all__ = ["TrafficCollector", "exposition", "registry_for"]
