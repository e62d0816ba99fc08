"""The servers that make up the stack, and how each is started."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .proxy.apply import ProxyTarget, install_manifest
from .proxy.manifest import DEFAULT_MANIFEST
from .proxy.nginx import DEFAULT_PROXY_DIR, Nginx, NginxError
from .proxy.transport import legacy_server_args
from .runner import Service, python_module


@dataclass(frozen=True)
class StackConfig:
    host: str = "127.0.0.1"
    legacy_port: int = 8001
    legacy_workers: int = 2
    legacy_threads: int = 4
    modern_port: int = 8002
    modern_workers: int = 2
    # the front door: nginx, rendered from the routing manifest
    proxy_port: int = 8000
    manifest: Path = field(default=DEFAULT_MANIFEST)
    proxy_dir: Path = field(default=DEFAULT_PROXY_DIR)
    # Each app server logs every request to the console (handy with `cutover up`). Behind nginx in
    # production, nginx's JSON access log is the record and these are off (the benchmark runs them so).
    app_access_logs: bool = True


def legacy_service(config: StackConfig, env: dict[str, str]) -> Service:
    argv = python_module(
        "gunicorn",
        "legacy_django.wsgi:application",
        "--bind", f"{config.host}:{config.legacy_port}",
        "--workers", str(config.legacy_workers),
        "--worker-class", "gthread",
        "--threads", str(config.legacy_threads),
        # The request limits the front door enforces, from the manifest: the two never disagree.
        *legacy_server_args(config.manifest),
        *(["--access-logfile", "-"] if config.app_access_logs else []),
        "--graceful-timeout", "10",
    )  # fmt: skip
    return Service("legacy", argv, env, f"http://{config.host}:{config.legacy_port}/api/users/")


def modern_service(config: StackConfig, env: dict[str, str]) -> Service:
    """The FastAPI port under uvicorn (uvloop + httptools), beside Django, on the same database and secret."""
    argv = python_module(
        "uvicorn",
        "fastapi_app.main:app",
        "--host", config.host,
        "--port", str(config.modern_port),
        "--workers", str(config.modern_workers),
        "--loop", "uvloop",
        "--http", "httptools",
        "--no-server-header",
        *([] if config.app_access_logs else ["--no-access-log"]),
    )  # fmt: skip
    return Service("modern", argv, env, f"http://{config.host}:{config.modern_port}/api/users/")


def proxy_service(config: StackConfig, env: dict[str, str]) -> Service:
    """nginx on ``proxy_port`` in front of both apps, from the manifest (checked with ``nginx -t`` here)."""
    nginx = Nginx(config.proxy_dir)
    if nginx.running_pid() is not None:
        raise NginxError(
            f"an nginx from {nginx.prefix} is already running (pid {nginx.running_pid()}): "
            "is another `cutover up` running? (`kill -QUIT <pid>` stops a stray one)"
        )
    listen = f"{config.host}:{config.proxy_port}"
    # The apps run where this stack starts them, whatever ports the manifest names.
    servers = {
        "legacy": [f"{config.host}:{config.legacy_port}"],
        "modern": [f"{config.host}:{config.modern_port}"],
    }
    install_manifest(config.manifest, nginx, ProxyTarget(listen=listen, servers=servers))
    return Service("proxy", nginx.argv(), env, f"http://{listen}/")


def services(config: StackConfig, env: dict[str, str]) -> list[Service]:
    # The front door starts last, once both apps answer.
    return [legacy_service(config, env), modern_service(config, env), proxy_service(config, env)]
