"""The benchmarked targets and the servers behind them, built with the stack's own service definitions."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import stack
from ..config import ProjectConfig, load_config
from ..runner import Service, python_module
from .results import FLOOR, LEGACY, LEGACY_NGINX, MODERN, MODERN_NGINX, MODERN_SHADOW

__all__ = [
    "ALL_TARGETS",
    "Target",
    "benchmarked_routes",
    "build_targets",
    "floor_service",
    "free_port",
    "nginx_summary",
    "pool_budget",
]

ALL_TARGETS = (LEGACY, MODERN, LEGACY_NGINX, MODERN_NGINX, MODERN_SHADOW, FLOOR)


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
        out = [" ".join(s.argv[1:]) for s in self.services]
        if self.nginx is not None:
            out.append("nginx " + nginx_summary(self.nginx))
        return out


def nginx_summary(proxy: Service) -> str:
    """The directives of the rendered nginx.conf that matter for throughput (workers, keep-alive, logs)."""
    try:
        conf = Path(proxy.argv[proxy.argv.index("-c") + 1]).read_text(encoding="utf-8")
    except (ValueError, IndexError, OSError):
        return "(configuration not readable)"
    wanted = ("worker_processes", "worker_connections", "keepalive ", "access_log", "proxy_http_version")
    seen: list[str] = []
    for line in conf.splitlines():
        text = line.strip()
        if text.startswith(wanted) and text not in seen:
            seen.append(text)
    return " ".join(seen)


def pool_budget(workers: int, threads: int) -> str:
    """Database connections the servers may hold, as far as the bench sets them (see docs/performance.md)."""
    return (
        f"legacy up to {workers}x{threads} (gunicorn workers x threads, persistent with CONN_MAX_AGE=60); "
        "modern and floor: their own pools per worker, as the project configures them"
    )


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


def floor_service(host: str, port: int, workers: int, env: dict[str, str], app: str, root: Path) -> Service:
    """The project's floor app (``[bench] floor``) under uvicorn, tuned like the modern stack: uvloop,
    httptools, no access log. Up once it answers ``/`` with any status."""
    argv = python_module(
        "uvicorn",
        app,
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
    return Service("floor", argv, env, f"http://{host}:{port}/", cwd=root)


def build_targets(
    names: list[str],
    env: dict[str, str],
    work_dir: Path,
    *,
    workers: int,
    threads: int,
    host: str = "127.0.0.1",
    project: ProjectConfig | None = None,
    requests: Sequence[tuple[str, str]] = (),
) -> Servers:
    """Services and targets for ``names``; a target whose parts are not in this checkout is marked missing.

    The apps are started by ``cutover.stack``'s own service definitions (the same command lines as
    ``cutover up``), on free ports; each nginx target gets its own nginx instance in ``work_dir``, from the
    project's manifest, where modern+nginx routes the scenarios' ``requests`` (method, path) to modern.
    The floor is the project's ``[bench] floor``, if it has one.
    """
    project = project if project is not None else load_config()
    out = Servers()
    wanted = set(names)
    # As in production behind nginx: the app servers keep no access log of their own (stack.py).
    config = stack.StackConfig(
        host=host,
        legacy_port=free_port(host),
        legacy_workers=workers,
        legacy_threads=threads,
        app_access_logs=False,
        manifest=project.proxy.manifest,
        project=project,
    )
    config = _with(config, modern_port=free_port(host), modern_workers=workers)

    # The shadow target's comparator asks the legacy twice per copy: it runs whenever that target does.
    if wanted & {LEGACY, LEGACY_NGINX, MODERN_SHADOW}:
        legacy = stack.legacy_service(config, env)
        out.services.append(legacy)
        out.targets[LEGACY] = Target(LEGACY, f"http://{host}:{config.legacy_port}", [legacy])

    if wanted & {MODERN, MODERN_NGINX, MODERN_SHADOW}:
        make_modern = getattr(stack, "modern_service", None)
        if make_modern is None:
            out.targets[MODERN] = Target(MODERN, "", [], missing="cutover.stack has no modern_service yet")
        else:
            modern = make_modern(config, env)
            out.services.append(modern)
            port = getattr(config, "modern_port", None)
            out.targets[MODERN] = Target(MODERN, f"http://{host}:{port}", [modern])

    if FLOOR in wanted:
        if project.bench.floor is None:
            out.targets[FLOOR] = Target(FLOOR, "", [], missing=f"no [bench] floor in {project.where}")
        else:
            port = free_port(host)
            floor = floor_service(host, port, workers, env, project.bench.floor, project.root)
            out.services.append(floor)
            out.targets[FLOOR] = Target(FLOOR, f"http://{host}:{port}", [floor])

    for name, upstream in ((LEGACY_NGINX, LEGACY), (MODERN_NGINX, MODERN), (MODERN_SHADOW, MODERN)):
        if name in wanted:
            target = _through_nginx(
                name, upstream, out.targets.get(upstream), config, env, work_dir, requests,
                shadow=name == MODERN_SHADOW, legacy=out.targets.get(LEGACY),
            )  # fmt: skip
            out.services += [s for s in target.services if s not in out.services]
            if target.nginx is not None:
                out.services.append(target.nginx)
            out.targets[name] = target
    return Servers(out.services, {n: out.targets[n] for n in names if n in out.targets})


def _with(config: stack.StackConfig, **changes: Any) -> stack.StackConfig:
    # Only the fields this checkout's StackConfig has (it grows as the stack does).
    known = {f.name for f in dataclasses.fields(config)}
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if k in known})


def benchmarked_routes(manifest_text: str, source: str, requests: Sequence[tuple[str, str]]) -> list[str]:
    """The ids of the manifest's routes that the front door sends ``requests`` (method, path) to."""
    from ..parity.generated import route_for
    from ..proxy.manifest import parse_manifest

    routes = parse_manifest(manifest_text, source).routes
    found = (route_for(routes, method, urlsplit(path).path) for method, path in requests)
    return list(dict.fromkeys(r for r in found if r is not None))


def _through_nginx(
    name: str,
    upstream_name: str,
    upstream: Target | None,
    config: stack.StackConfig,
    env: dict[str, str],
    work_dir: Path,
    requests: Sequence[tuple[str, str]] = (),
    *,
    shadow: bool = False,
    legacy: Target | None = None,
) -> Target:
    if upstream is None or upstream.missing:
        why = upstream.missing if upstream else "not started"
        return Target(name, "", [], missing=f"its upstream {upstream_name} is missing ({why})")
    make_proxy = getattr(stack, "proxy_service", None)
    if make_proxy is None:
        return Target(name, "", [], missing="cutover.stack has no proxy_service yet")
    from ..proxy.manifest import read_text, set_route_mode, set_route_shadow

    # The project's manifest, with the benchmarked routes sent to the upstream under test (legacy: as
    # committed, which is where every route starts).
    source = config.manifest
    text = read_text(source)
    if upstream_name == MODERN:
        moved = benchmarked_routes(text, str(source), requests)
        if requests and not moved:
            return Target(name, "", [], missing=f"no route of {source} takes the scenarios' requests")
        for route_id in moved:
            text = set_route_mode(text, route_id, "modern", source=str(source))
            if shadow:
                text = set_route_shadow(text, route_id, 100, source=str(source))
    slug = name.replace("+", "-")
    manifest = work_dir / f"{slug}.toml"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(text, encoding="utf-8")
    port = free_port(config.host)
    # The comparator's results go to a store of the run's own, never the project's.
    proxy_config = _with(
        config, proxy_port=port, manifest=manifest, proxy_dir=work_dir / slug,
        shadow_port=free_port(config.host), shadow_store=f"sqlite:///{work_dir / slug / 'shadow.sqlite3'}",
    )  # fmt: skip
    services = list(upstream.services)
    if shadow:
        # The copies' comparisons cost the legacy (asked twice) too: its CPU is this target's as well.
        services += [s for s in (legacy.services if legacy else []) if s not in services]
        comparator = stack.shadow_service(proxy_config, env)
        comparator.name = f"{slug}-comparator"
        services.append(comparator)
    proxy = make_proxy(proxy_config, env)
    proxy.name = slug
    return Target(name, f"http://{config.host}:{port}", services, nginx=proxy)
