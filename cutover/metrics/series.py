"""Traffic over the last hour in time buckets, per route and backend: what the dashboard's charts draw.

:mod:`.windows` answers "how is it now" over a sliding minute from the entries themselves. A chart over an
hour cannot keep every entry of a busy route, so each bucket of ``step`` seconds keeps counts and a
latency histogram instead, and buckets older than ``span`` are dropped:

- per (route, backend that answered): requests, 5xx answers, and the request times in bins 5% wide
  (from 0.1 ms up), from which p99 is the nearest rank's bin, read as its upper edge (at most 5% above the
  exact value) and never above the bucket's slowest request;
- per route: requests meant for modern and in all (by the intended backend, as ``windows`` counts the
  actual modern share, so that a failover does not hide how a canary splits).

Entries carry the front door's own time (nginx: whole seconds), so a bucket holds what happened in it
whenever the log was read.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .access_log import Entry

BACKENDS = ("legacy", "modern")
_BIN_BASE = 1e-4  # seconds: the first bin holds everything up to 0.1 ms
_BIN_RATIO = 1.05


def _bin(seconds: float) -> int:
    if seconds <= _BIN_BASE:
        return 0
    return math.ceil(math.log(seconds / _BIN_BASE) / math.log(_BIN_RATIO))


def _edge(index: int) -> float:
    return _BIN_BASE * _BIN_RATIO**index


@dataclass
class _Bucket:
    requests: int = 0
    errors: int = 0
    slowest: float = 0.0
    bins: Counter[int] = field(default_factory=Counter)

    def add(self, entry: Entry) -> None:
        self.requests += 1
        self.errors += entry.status >= 500
        self.slowest = max(self.slowest, entry.seconds)
        self.bins[_bin(entry.seconds)] += 1

    def merge(self, other: _Bucket) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.slowest = max(self.slowest, other.slowest)
        self.bins.update(other.bins)

    def quantile(self, q: float) -> float | None:
        """The nearest-rank quantile, as the upper edge of its bin (no more than the slowest request)."""
        if not self.requests:
            return None
        rank = max(1, math.ceil(q * self.requests))
        seen = 0
        for index in sorted(self.bins):
            seen += self.bins[index]
            if seen >= rank:
                return min(_edge(index), self.slowest)
        return self.slowest  # pragma: no cover - the bins hold every request


@dataclass(frozen=True)
class Totals:
    """One backend's figures on one route over the whole span."""

    requests: int
    errors: int  # 5xx answers
    p99: float | None  # seconds

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class Chart:
    """A route's chart data: bucket start times, and per backend a value per bucket (None: no requests)."""

    step: float
    times: tuple[float, ...]
    per_second: dict[str, tuple[float, ...]]
    error_rate: dict[str, tuple[float | None, ...]]
    p99: dict[str, tuple[float | None, ...]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "times": list(self.times),
            **{
                name: {b: list(values[b]) for b in BACKENDS}
                for name, values in (
                    ("per_second", self.per_second),
                    ("error_rate", self.error_rate),
                    ("p99", self.p99),
                )
            },
        }


class Series:
    """The last ``span`` seconds of traffic in buckets of ``step`` seconds. Not thread-safe: one writer,
    or a lock around it."""

    def __init__(self, span: float = 3600.0, step: float = 10.0) -> None:
        if step <= 0 or span < step:
            raise ValueError(f"need 0 < step <= span (got step {step}, span {span})")
        self.span = span
        self.step = step
        self._buckets: dict[tuple[str, str], dict[int, _Bucket]] = defaultdict(dict)
        self._meant: dict[str, dict[int, list[int]]] = defaultdict(dict)  # [requests, meant for modern]

    def _index(self, moment: float) -> int:
        return math.floor(moment / self.step)

    def add(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            index = self._index(entry.time)
            buckets = self._buckets[(entry.route, entry.served_by)]
            bucket = buckets.get(index)
            if bucket is None:
                bucket = buckets[index] = _Bucket()
            bucket.add(entry)
            meant = self._meant[entry.route].setdefault(index, [0, 0])
            meant[0] += 1
            meant[1] += entry.backend == "modern"

    def _first(self, now: float) -> int:
        """The oldest bucket inside the span ending at ``now``."""
        return self._index(now) - math.ceil(self.span / self.step) + 1

    def prune(self, now: float) -> None:
        """Drop the buckets that ended before the span ending at ``now``."""
        first = self._first(now)
        tables: list[dict[int, Any]] = [*self._buckets.values(), *self._meant.values()]
        for table in tables:
            for index in [i for i in table if i < first]:
                del table[index]

    def routes(self) -> list[str]:
        return sorted(self._meant)

    def totals(self, route: str, backend: str, now: float) -> Totals:
        """``backend``'s figures on ``route`` over the span ending at ``now``."""
        first, last = self._first(now), self._index(now)
        merged = _Bucket()
        for index, bucket in self._buckets.get((route, backend), {}).items():
            if first <= index <= last:
                merged.merge(bucket)
        return Totals(merged.requests, merged.errors, merged.quantile(0.99))

    def modern_share(self, route: str, now: float, over: float = 60.0) -> float | None:
        """The share of ``route``'s requests of the last ``over`` seconds meant for modern (None: none)."""
        first, last = self._index(now - over) + 1, self._index(now)
        total = modern = 0
        for index, (requests, to_modern) in self._meant.get(route, {}).items():
            if first <= index <= last:
                total += requests
                modern += to_modern
        return modern / total if total else None

    def chart(self, route: str, now: float) -> Chart:
        """``route``'s buckets over the span ending at ``now``, oldest first; the current bucket's rate is
        over the part of it that has passed."""
        first, last = self._first(now), self._index(now)
        indexes = range(first, last + 1)
        per_second: dict[str, tuple[float, ...]] = {}
        error_rate: dict[str, tuple[float | None, ...]] = {}
        p99: dict[str, tuple[float | None, ...]] = {}
        for backend in BACKENDS:
            buckets = self._buckets.get((route, backend), {})
            found = [buckets.get(i) for i in indexes]
            elapsed = [self.step] * (len(found) - 1) + [max(1.0, min(self.step, now - last * self.step))]
            per_second[backend] = tuple(
                (b.requests if b is not None else 0) / seconds
                for b, seconds in zip(found, elapsed, strict=True)
            )
            error_rate[backend] = tuple(b.errors / b.requests if b is not None else None for b in found)
            p99[backend] = tuple(b.quantile(0.99) if b is not None else None for b in found)
        return Chart(self.step, tuple(i * self.step for i in indexes), per_second, error_rate, p99)


__all__ = ["BACKENDS", "Chart", "Series", "Totals"]
