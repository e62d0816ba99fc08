"""The benchmarked targets and the servers behind them, built with the stack's own service definitions."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from .. import stack
from ..runner import Service, python_module
from .results import FLOOR, LEGACY, LEGACY_NGINX, MODERN, MODERN_NGINX

__all__ = ["ALL_TARGETS", "Target", "build_targets", "floor_service", "free_port"]

ALL_TARGETS = (LEGACY, MODERN, LEGACY_NGINX, MODERN_NGINX, FLOOR)


@dataclass
class Target:
    """A base URL to load, and the services whose CPU time the load costs."""

    name: str
    base_url: str
    services: list[Service]
    nginx: Service | None = None
    missing: str | None = None  # why this target cannot run in this checkout

    @property
    def argv(self) -> list[str]:
        return [" ".join(s.argv[1:]) for s in self.services]


@dataclass
class Servers:
    """Every service to start (each once, in order) and the targets that use them."""

    services: list[Service] = field(default_factory=list)
    targets: dict[str, Target] = field(default_factory=dict)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now on ``host`` (the bench never takes the dev stack's 8000-8002)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def floor_service(host: str, port: int, workers: int, env: dict[str, str]) -> Service:
    """The floor app under uvicorn, tuned like the modern stack: uvloop, httptools, no access log."""
    argv = python_module(
        "uvicorn",
        "cutover.bench.floor:app",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    )
    return Service("floor", argv, env, f"http://{host}:{port}/api/users/")


def build_targets(
    names: list[str], env: dict[str, str], *, workers: int, threads: int, host: str = "127.0.0.1"
) -> Servers:
    """Services and targets for ``names``; a target whose parts are not in this checkout is marked missing."""
    out = Servers()
    wanted = set(names)
    need_legacy = bool(wanted & {LEGACY, LEGACY_NGINX})
    need_modern = bool(wanted & {MODERN, MODERN_NGINX})
    config = stack.StackConfig(
        host=host, legacy_port=free_port(host), legacy_workers=workers, legacy_threads=threads
    )

    legacy = stack.legacy_service(config, env) if need_legacy else None
    if legacy is not None:
        out.services.append(legacy)
        out.targets[LEGACY] = Target(LEGACY, f"http://{host}:{config.legacy_port}", [legacy])

    if need_modern:
        modern_port = free_port(host)
        make_modern = getattr(stack, "modern_service", None)
        if make_modern is None:
            out.targets[MODERN] = Target(MODERN, "", [], missing="cutover.stack has no modern_service yet")
        else:
            modern = _modern(make_modern, config, env, host, modern_port, workers)
            out.services.append(modern)
            out.targets[MODERN] = Target(MODERN, f"http://{host}:{modern_port}", [modern])

    if FLOOR in wanted:
        port = free_port(host)
        floor = floor_service(host, port, workers, env)
        out.services.append(floor)
        out.targets[FLOOR] = Target(FLOOR, f"http://{host}:{port}", [floor])

    for name, upstream in ((LEGACY_NGINX, LEGACY), (MODERN_NGINX, MODERN)):
        if name in wanted:
            out.targets[name] = _through_nginx(name, out.targets.get(upstream), env, host, out)
    return Servers(out.services, {n: out.targets[n] for n in names if n in out.targets})


def _modern(
    make_modern, config: stack.StackConfig, env: dict[str, str], host: str, port: int, workers: int
) -> Service:
    import dataclasses

    fields = {f.name for f in dataclasses.fields(config)}
    extra: dict[str, Any] = {
        k: v for k, v in {"modern_port": port, "modern_workers": workers}.items() if k in fields
    }
    return make_modern(dataclasses.replace(config, **extra), env)


def _through_nginx(
    name: str, upstream: Target | None, env: dict[str, str], host: str, out: Servers
) -> Target:
    if upstream is None or upstream.missing:
        return Target(
            name, "", [], missing=f"its upstream is missing ({upstream.missing if upstream else 'none'})"
        )
    return Target(name, "", [], missing="the nginx front door (cutover.proxy) is not in this checkout yet")
