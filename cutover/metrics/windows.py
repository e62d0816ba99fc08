"""Traffic figures over a sliding window, per route and backend, from access log entries.

Per (route, backend that answered): requests per second, the share of 5xx answers, p50 and p99 of the
front door's request time. Per route: the share of its requests the front door sent to modern (for a
canary, the *actual* share, to set beside the manifest's percentage; by the intended backend, so that a
failover to legacy does not hide the split). Entries older than the window are dropped as time moves on.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from .access_log import Entry


@dataclass(frozen=True)
class Figures:
    route: str
    backend: str
    requests: int
    per_second: float
    error_rate: float  # share of 5xx answers
    p50: float | None  # seconds
    p99: float | None


def quantile(sorted_values: list[float], q: float) -> float | None:
    """The nearest-rank quantile (what a p99 of 100 values is: the 99th): no interpolation."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


class Windows:
    """The entries of the last ``span`` seconds, and figures over them."""

    def __init__(self, span: float = 60.0) -> None:
        self.span = span
        self._entries: deque[Entry] = deque()

    def add(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self._entries.append(entry)

    def _current(self, now: float) -> list[Entry]:
        """The entries of the window ending at ``now``; older ones are dropped.

        Entries arrive in log order, which is close to time order (nginx logs when a request ends): the
        oldest are dropped from the front, and an older one behind a newer is left out by its time.
        """
        start = now - self.span
        while self._entries and self._entries[0].time < start:
            self._entries.popleft()
        return [e for e in self._entries if e.time >= start]

    def figures(self, now: float) -> list[Figures]:
        groups: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        for entry in self._current(now):
            groups[(entry.route, entry.served_by)].append(entry)
        out = []
        for (route, backend), entries in sorted(groups.items()):
            times = sorted(e.seconds for e in entries)
            errors = sum(1 for e in entries if e.status >= 500)
            out.append(
                Figures(
                    route,
                    backend,
                    len(entries),
                    len(entries) / self.span,
                    errors / len(entries),
                    quantile(times, 0.5),
                    quantile(times, 0.99),
                )  # fmt: skip
            )
        return out

    def modern_share(self, now: float) -> dict[str, float]:
        """Per route, the share of its requests in the window meant for modern."""
        total: dict[str, int] = defaultdict(int)
        modern: dict[str, int] = defaultdict(int)
        for entry in self._current(now):
            total[entry.route] += 1
            modern[entry.route] += entry.backend == "modern"
        return {route: modern[route] / count for route, count in sorted(total.items())}


__all__ = ["Figures", "Windows", "quantile"]
