"""``cutover up``: the whole stack on one machine (what ``make run`` runs)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cutover.embedded import DEFAULT_DATA_DIR

from ..database import DatabaseWatch, child_env, parse_url, provisioned_database
from ..errors import CutoverError, reports_errors
from ..proxy.doors import KINDS
from ..runner import (
    Service,
    Supervisor,
    Terminated,
    install_stop_signals,
    python_module,
    stop_signals_ignored_on_exit,
)
from ..stack import StackConfig, services, shadows
from . import project_config

console = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("up")(up)


def up(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(envvar="CUTOVER_HOST", help="Address every server binds to.")
    ] = "127.0.0.1",
    legacy_port: Annotated[int, typer.Option(envvar="CUTOVER_LEGACY_PORT", help="Django (gunicorn).")] = 8001,
    modern_port: Annotated[int, typer.Option(envvar="CUTOVER_MODERN_PORT", help="FastAPI (uvicorn).")] = 8002,
    database_url: Annotated[
        str | None, typer.Option(envvar="DATABASE_URL", help="PostgreSQL URL; default: embedded server.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Embedded server data directory; default: .data/postgres in the project root."),
    ] = None,
    seed: Annotated[
        bool, typer.Option(help="Run the config's [database] seed command after migrating.")
    ] = True,
    proxy_port: Annotated[
        int, typer.Option(envvar="CUTOVER_PROXY_PORT", help="The front door in front of both apps.")
    ] = 8000,
    shadow_port: Annotated[
        int,
        typer.Option(
            envvar="CUTOVER_SHADOW_PORT",
            help="The shadow comparator, started when a route of the manifest shadows.",
        ),
    ] = 8003,
    metrics_port: Annotated[
        int,
        typer.Option(
            envvar="CUTOVER_METRICS_PORT",
            min=0,
            max=65535,
            help="The front door's traffic as Prometheus /metrics (cutover metrics serve); 0: not started.",
        ),
    ] = 9108,
    dashboard_port: Annotated[
        int | None,
        typer.Option(
            envvar="CUTOVER_DASHBOARD_PORT",
            min=0,
            max=65535,
            help="The migration dashboard (cutover dashboard); default: [dashboard] port; 0: not started.",
        ),
    ] = None,
    front_door: Annotated[
        str | None,
        typer.Option(
            "--front-door",
            envvar="CUTOVER_FRONT_DOOR",
            help="nginx or envoy; default: the config's [proxy] front_door (nginx).",
        ),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            envvar="CUTOVER_MANIFEST",
            help="The routing manifest nginx is rendered from; default: the config's.",
        ),
    ] = None,
    proxy_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="CUTOVER_PROXY_DIR",
            help="The front door's files; default: 'nginx' (or 'envoy') beside --data-dir.",
        ),
    ] = None,
    database_grace: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="Seconds the database may not answer (a restart) before the stack stops.",
        ),
    ] = 30.0,
) -> None:
    """Start the database, migrate, seed, and serve the stack until Ctrl-C or SIGTERM.

    An app server that dies is restarted (the front door serves its routes from the other app meanwhile,
    where it can); the stack stops by itself only when the database is gone for --database-grace seconds.
    """

    @reports_errors
    def run() -> None:
        project = project_config(ctx)
        door = front_door if front_door is not None else project.proxy.front_door
        if door not in KINDS:
            raise CutoverError(f"--front-door must be nginx or envoy (got {door!r})")
        pgdata = data_dir if data_dir is not None else project.root / DEFAULT_DATA_DIR
        config = StackConfig(host=host, legacy_port=legacy_port, modern_port=modern_port, project=project)
        config = replace(
            config,
            proxy_port=proxy_port,
            shadow_port=shadow_port,
            metrics_port=metrics_port or None,
            dashboard_port=(project.dashboard.port if dashboard_port is None else dashboard_port) or None,
            dashboard_token=secrets.token_urlsafe(32),
            # With --data-dir elsewhere, the comparator's SQLite store goes beside it, as the front door's
            # files do; a [shadow] database is used as configured.
            shadow_store=None
            if data_dir is None or project.shadow.database
            else f"sqlite:///{pgdata.parent.absolute() / 'shadow.sqlite3'}",
            front_door=door,
            manifest=manifest if manifest is not None else project.proxy.manifest,
            proxy_dir=proxy_dir if proxy_dir is not None else pgdata.parent / door,
        )
        try:
            with (
                install_stop_signals(),
                provisioned_database(parse_url(database_url), pgdata, project, seed=seed) as url,
                # Stopping the servers and the database below must not be cut short by a second signal.
                stop_signals_ignored_on_exit(),
                DatabaseWatch(url, grace=database_grace) as database,
                Supervisor(
                    services(config, child_env(url, project)), say=_say, watchdogs=[database]
                ) as stack,
            ):
                _banner(config, url.redacted())
                stack.wait()
        except (KeyboardInterrupt, Terminated):
            console.print("stopped")

    run()


def _say(message: str) -> None:
    console.print(f"cutover: {message}", markup=False)


def _banner(config: StackConfig, db: str) -> None:
    project, host = config.project, config.host
    lines = [
        f"front door        http://{host}:{config.proxy_port}/  ({config.front_door})",
        f"legacy (Django)   http://{host}:{config.legacy_port}{project.legacy.health}",
        f"modern (FastAPI)  http://{host}:{config.modern_port}{project.modern.health}",
        f"database          {db}",
        f"routes            {config.manifest}  (cutover routes; cutover move ROUTE --to ...)",
    ]
    if shadows(config):
        where = f"http://{host}:{config.shadow_port}/"
        lines.append(f"shadow            {where}  (comparing copies; cutover shadow report)")
    if config.metrics_port is not None:
        lines.append(f"metrics           http://{host}:{config.metrics_port}/metrics  (Prometheus)")
    if config.dashboard_port is not None:
        where = f"http://{host}:{config.dashboard_port}/"
        lines.append(f"dashboard         {where}  (token: {config.dashboard_token})")
    lines += [*project.notes, "Ctrl-C stops everything."]
    for line in lines:  # the project's paths and addresses, as written: never markup
        console.print(line, markup=False)


__all__ = ["Service", "python_module", "up"]
