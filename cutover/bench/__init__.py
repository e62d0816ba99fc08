"""``cutover bench``: load the legacy, the port, both behind nginx, and a bare floor; report side by side."""

from __future__ import annotations

from .harness import Plan
from .loadgen import LoadResult, parse_wrk_output
from .results import BenchRun, Point, checks, ratios

__all__ = ["BenchRun", "LoadResult", "Plan", "Point", "checks", "parse_wrk_output", "ratios"]
