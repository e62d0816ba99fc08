"""The front door's live traffic for the dashboard: its access log followed into a :class:`Series`.

Read by a background task every second and again before each page or chart is drawn (whatever was appended
meanwhile), always in a worker thread: reading a file blocks. The follower starts at the log's end, as
``cutover metrics serve`` does: the charts show traffic from the dashboard's start on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ..metrics.access_log import LogFollower
from ..metrics.series import Chart, Series, Totals

# Points per chart: an hour in 10-second buckets.
POINTS = 360


class Traffic:
    """The series of one access log, safe to read and poll from several threads."""

    def __init__(self, log: Path, front_door: str, *, history: float = 3600.0) -> None:
        self.log = Path(log)
        self.series = Series(span=history, step=max(1.0, history / POINTS))
        self._follower = LogFollower(self.log, front_door)
        self._lock = threading.Lock()
        self.problem: str | None = None  # why the log cannot be read now, for the page to say

    def poll(self) -> None:
        with self._lock:
            try:
                entries = self._follower.read()
            except OSError as exc:  # unreadable for now (permissions, a disk): said on the page, retried
                self.problem = f"cannot read the access log {self.log}: {exc.strerror or exc}"
                entries = []
            else:
                self.problem = None
            self.series.add(entries)
            self.series.prune(time.time())

    def chart(self, route: str, now: float) -> Chart:
        with self._lock:
            return self.series.chart(route, now)

    def totals(self, route: str, backend: str, now: float) -> Totals:
        with self._lock:
            return self.series.totals(route, backend, now)

    def modern_share(self, route: str, now: float) -> float | None:
        with self._lock:
            return self.series.modern_share(route, now)

    def close(self) -> None:
        with self._lock:
            self._follower.close()


__all__ = ["POINTS", "Traffic"]
