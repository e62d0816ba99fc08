"""The load generator: wrk, driven by one Lua script per scenario that reports its result as one JSON line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import CutoverError
from ..exit_codes import ExitCode

__all__ = [
    "MARKER",
    "HOW_TO_GET_WRK",
    "LoadResult",
    "ensure_wrk",
    "parse_wrk_output",
    "run_wrk",
    "wrk_version",
]

MARKER = "CUTOVER_BENCH_JSON "
HOW_TO_GET_WRK = (
    "wrk is not installed: `sudo apt-get install -y wrk` (Debian/Ubuntu), `brew install wrk` (macOS), "
    "or build it from https://github.com/wg/wrk; then run the benchmark again"
)
SCRIPTS = Path(__file__).parent / "scripts"


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: counts, throughput and latency (milliseconds)."""

    requests: int
    duration_s: float
    bytes: int
    errors_connect: int
    errors_read: int
    errors_write: int
    errors_status: int  # responses with a status >= 400
    errors_timeout: int
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    latency_mean_ms: float

    @property
    def errors(self) -> int:
        return (
            self.errors_connect
            + self.errors_read
            + self.errors_write
            + self.errors_status
            + self.errors_timeout
        )

    @property
    def rps(self) -> float:
        # Only good answers count as throughput: a fast 401 must not look like speed.
        return (self.requests - self.errors_status) / self.duration_s if self.duration_s else 0.0


def ensure_wrk(install: bool = True) -> str:
    """The path of wrk; install it with apt when missing and we are root, else explain and exit 2."""
    found = shutil.which("wrk")
    if found:
        return found
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # A fresh machine has no package lists yet: update once, only if the first attempt fails.
        for step in ([], ["apt-get", "update", "-qq"]):
            if step:
                subprocess.run(step, capture_output=True, text=True, env=env, timeout=300)
            proc = subprocess.run(
                ["apt-get", "install", "-y", "-qq", "wrk"],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            found = shutil.which("wrk")
            if proc.returncode == 0 and found:
                return found
    raise CutoverError(HOW_TO_GET_WRK, ExitCode.USAGE)


def wrk_version(wrk: str) -> str:
    """wrk's version line, without its copyright notice."""
    proc = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    return (proc.stdout.strip().splitlines() or ["wrk (unknown version)"])[0].split(" Copyright")[0]


def parse_wrk_output(stdout: str) -> LoadResult:
    """Read the JSON line that ``scripts/report.lua``'s ``done()`` prints; raise CutoverError without it."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                raw = json.loads(line[len(MARKER) :])
                errors, latency = raw["errors"], raw["latency_us"]
                return LoadResult(
                    requests=int(raw["requests"]),
                    duration_s=int(raw["duration_us"]) / 1e6,
                    bytes=int(raw["bytes"]),
                    errors_connect=int(errors["connect"]),
                    errors_read=int(errors["read"]),
                    errors_write=int(errors["write"]),
                    errors_status=int(errors["status"]),
                    errors_timeout=int(errors["timeout"]),
                    latency_p50_ms=float(latency["p50"]) / 1000,
                    latency_p90_ms=float(latency["p90"]) / 1000,
                    latency_p99_ms=float(latency["p99"]) / 1000,
                    latency_max_ms=float(latency["max"]) / 1000,
                    latency_mean_ms=float(latency["mean"]) / 1000,
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise CutoverError(f"unreadable wrk report line: {line!r}", ExitCode.FAILED) from exc
    tail = " | ".join(stdout.strip().splitlines()[-3:]) or "(no output)"
    raise CutoverError(f"wrk printed no report: {tail}", ExitCode.FAILED)


def run_wrk(
    wrk: str,
    url: str,
    scenario: str,
    *,
    connections: int,
    duration: float,
    threads: int = 2,
    timeout: float = 10.0,
) -> LoadResult:
    """Run wrk against ``url`` for ``duration`` s: ``scenario`` (the Lua table of
    :meth:`cutover.bench.scenarios.Scenario.lua`) read by ``scripts/scenario.lua``, plus the reporter."""
    threads = max(1, min(threads, connections))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as lua:
        # wrk takes one script: the scenario's table, the request generator, the shared reporter.
        parts = [scenario, (SCRIPTS / "scenario.lua").read_text(), (SCRIPTS / "report.lua").read_text()]
        lua.write("\n".join(parts))
        lua.flush()
        return _run(wrk, url, lua.name, threads, connections, duration, timeout)


def _run(
    wrk: str,
    url: str,
    script_path: str,
    threads: int,
    connections: int,
    duration: float,
    timeout: float,
) -> LoadResult:
    argv = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration))}s",
        f"--timeout={max(1, round(timeout))}s",
        f"--script={script_path}",
        url,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + timeout + 30)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        raise CutoverError(f"wrk failed (exit {proc.returncode}): {last}", ExitCode.FAILED)
    return parse_wrk_output(proc.stdout)
