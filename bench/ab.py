"""A/B of ASGI apps under uvicorn: server CPU per request on the demo's `detail` scenario, windows alternated.

Used to measure each change to the port before and after (docs/performance.md, "The port, four changes"):
the code before the change runs from a git worktree (``--app-dir``), the code after from this checkout,
the floor beside both, each on its own free port with 2 workers, against the bench's own database
(.data/bench-postgres, prepared as ``cutover bench`` prepares it). Each round runs a 4 s wrk window per
variant, in turn, after the servers are idle again; round 0 warms up and is not counted. It prints, per
variant, the median and every window's req/s and server CPU per request (master and workers, psutil).

    git worktree add /tmp/before <commit>
    PORT="fastapi_app.main:app --http fastapi_app.protocol:LegacyHttpToolsProtocol --no-proxy-headers"
    .venv/bin/python bench/ab.py 5 64 "before=$PORT --app-dir /tmp/before" "after=$PORT" floor

A variant is ``name=module:app uvicorn-options...`` or ``floor`` (the project's ``[bench] floor``). Not a
test and not part of ``make bench``: the machine must be otherwise idle, as for the bench.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from cutover.bench.dataset import bench_database, prepare_dataset, scenarios_for
from cutover.bench.loadgen import ensure_wrk, run_wrk
from cutover.bench.servers import cpu_seconds, cpu_spent, running, settle, tree_pids
from cutover.bench.targets import floor_service, free_port
from cutover.config import load_config
from cutover.database import child_env
from cutover.runner import Service, python_module

WINDOW = 4.0


def main(rounds: int, connections: int, specs: list[str]) -> None:
    project = load_config()
    wrk = ensure_wrk()
    out = Path(".data") / "bench-ab"
    with bench_database(None) as url:
        dataset = prepare_dataset(url, project, 10_000)
        (load,) = scenarios_for(dataset, project, ["detail"])
        env = child_env(url, project, CONN_MAX_AGE="60", **project.bench.env)
        services = [_service(spec, env, project) for spec in specs]
        windows: dict[str, list[tuple[float, float]]] = {s.name: [] for s in services}
        with running(services, out / "logs"):
            for round_ in range(rounds + 1):
                for service in services:
                    assert service.process is not None
                    pids = tree_pids(service.process.pid)
                    settle(lambda pids=pids: pids)
                    before = cpu_seconds(pids)
                    result = run_wrk(
                        wrk, service.url, load.lua(f"{service.name}{round_}{time.time_ns()}"),
                        connections=connections, duration=WINDOW, threads=2, timeout=10,
                    )  # fmt: skip
                    if result.errors:
                        raise SystemExit(f"{service.name}: {result.errors} errors in a window")
                    cpu = cpu_spent(before, cpu_seconds(pids))
                    if round_:
                        windows[service.name].append((result.rps, cpu / (result.rps * WINDOW) * 1e6))
    for name, points in windows.items():
        rps, cpu = [p[0] for p in points], [p[1] for p in points]
        print(
            f"{name:10s} req/s median {statistics.median(rps):7,.0f} {[round(x) for x in rps]}"
            f"  server CPU/request median {statistics.median(cpu):4.0f} µs {[round(x) for x in cpu]}"
        )


def _service(spec: str, env: dict[str, str], project) -> Service:  # type: ignore[no-untyped-def]
    port = free_port()
    if spec == "floor":
        return floor_service("127.0.0.1", port, 2, env, project.bench.floor, project.root)
    name, _, command = spec.partition("=")
    app, *options = command.split()
    argv = python_module(
        "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--loop", "uvloop",
        "--no-server-header", "--no-access-log", *options,
    )  # fmt: skip
    return Service(name, argv, env, f"http://127.0.0.1:{port}/", cwd=project.root)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
