"""``cutover dashboard``: the migration dashboard (docs/dashboard.md), on loopback by default.

One banner line names its address and the access token the page's actions need; the token is printed there
and nowhere else (uvicorn's access log is off: a ``?token=`` link would otherwise be written to it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated

import typer
import uvicorn

from ..dashboard.app import create_app
from ..dashboard.auth import Auth
from ..dashboard.data import Sources
from ..errors import CutoverError, reports_errors
from ..proxy.doors import door_at
from . import project_config
from .routes import AuditOpt, ManifestOpt, ProxyDirOpt, RepoOpt, ReportOpt

STARTUP_TIMEOUT = 15.0


@dataclass
class DashboardServer:
    """A running dashboard: uvicorn in a background thread."""

    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int
    token: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def banner(self) -> str:
        return f"dashboard         {self.url}  (token: {self.token})"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start(
    sources: Sources, *, host: str = "127.0.0.1", port: int = 8004, refresh: float = 5.0,
    history: float = 3600.0, token: str | None = None,
) -> DashboardServer:  # fmt: skip
    """Serve the dashboard for ``sources`` on ``host:port`` (0: any free port) in a background thread, once
    it listens; CutoverError when it cannot."""
    auth = Auth(token)
    app = create_app(sources, auth=auth, host=host, refresh=refresh, history=history)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,  # a sign-in link's line would carry the token
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=5,  # an open page's keep-alive connection does not hold `stop` up
    )
    server = uvicorn.Server(config)

    def serve() -> None:
        try:
            server.run()
        except (SystemExit, OSError):  # uvicorn has said why on stderr (a port in use); start() reports it
            pass

    thread = threading.Thread(target=serve, name="cutover-dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            raise CutoverError(f"the dashboard cannot listen on {host}:{port} (in use? see the line above)")
        time.sleep(0.02)
    bound = port
    for listening in server.servers:
        for sock in listening.sockets:
            bound = sock.getsockname()[1]
    return DashboardServer(server, thread, host, bound, auth.token)


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard_cmd)


def dashboard_cmd(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on; default: [dashboard] host (loopback).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port; default: [dashboard] port (8004).")] = None,
    manifest: ManifestOpt = None,
    proxy_dir: ProxyDirOpt = None,
    report: ReportOpt = None,
    repo: RepoOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Serve the dashboard until Ctrl-C: every route's mode, parity, shadow and live figures, and the
    moves (canary, modern, rollback: the CLI's own, gate and audit log included)."""

    @reports_errors
    def run() -> None:
        project = project_config(ctx)
        settings = project.dashboard
        sources = Sources.of(
            project, manifest=manifest, door=door_at(proxy_dir) if proxy_dir is not None else None,
            report=report, repo=repo, audit=audit,
        )  # fmt: skip
        if not sources.manifest.exists():
            raise CutoverError(f"no manifest at {sources.manifest} (see [proxy] manifest, or --manifest)")
        running = start(
            sources, host=host or settings.host, port=settings.port if port is None else port,
            refresh=settings.refresh, history=settings.history,
        )  # fmt: skip
        typer.echo(running.banner())
        try:
            while running.thread.is_alive():
                running.thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()

    run()


__all__ = ["DashboardServer", "register", "start"]
