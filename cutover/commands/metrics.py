"""``cutover metrics serve``: the front door's traffic figures on a Prometheus ``/metrics`` endpoint.

Reads the front door's JSON access log as it grows (rotation included) and serves, on loopback by default,
per route and backend: requests per second, 5xx share, p50/p99 over a sliding window, the actual modern
share per route, and request counters (docs/metrics.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from prometheus_client import start_http_server

from ..errors import CutoverError, reports_errors
from ..metrics.access_log import UNITS, LogFollower
from ..metrics.exporter import TrafficCollector, registry_for
from ..metrics.windows import Windows
from ..proxy.doors import door_at, kind_of, project_door
from . import project_config

app = typer.Typer(help="Traffic metrics from the front door's access log.", no_args_is_help=True,
                  rich_markup_mode=None)  # fmt: skip


@dataclass
class MetricsServer:
    """A running /metrics endpoint (prometheus-client's threaded HTTP server) and the log it reads."""

    server: Any
    thread: threading.Thread
    follower: LogFollower

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        self.follower.close()


def start(log: Path, front_door: str, *, host: str, port: int, window: float) -> MetricsServer:
    """Serve /metrics for ``log`` on ``host:port`` in a background thread."""
    if front_door not in UNITS:
        raise CutoverError(f"--front-door must be nginx or envoy (got {front_door!r})")
    follower = LogFollower(log, front_door)
    collector = TrafficCollector(follower, Windows(span=window))
    server, thread = start_http_server(port, addr=host, registry=registry_for(collector))
    return MetricsServer(server, thread, follower)


@app.command("serve")
def serve(
    ctx: typer.Context,
    log: Annotated[
        Path | None, typer.Option(help="The access log; default: the running front door's.")
    ] = None,
    proxy_dir: Annotated[
        Path | None,
        typer.Option("--proxy-dir", envvar="CUTOVER_PROXY_DIR", help="The front door's directory."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the /metrics endpoint.")] = 9108,
    window: Annotated[float, typer.Option(min=1.0, help="Seconds the sliding figures cover.")] = 60.0,
    banner: Annotated[bool, typer.Option(hidden=True, help="Print the banner line.")] = True,
) -> None:
    """Serve /metrics until Ctrl-C."""

    @reports_errors
    def run() -> None:
        if proxy_dir is not None:
            door = door_at(proxy_dir)
        else:
            project = project_config(ctx)
            door = project_door(project.root, project.proxy.front_door)
        path = log if log is not None else door.access_log
        running = start(path, kind_of(door), host=host, port=port, window=window)
        if banner:  # `cutover up` prints its own
            typer.echo(f"metrics           http://{host}:{port}/metrics  (from {path})")
        try:
            running.thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()

    run()


__all__ = ["MetricsServer", "app", "start"]
