"""Run the comparator service under uvicorn (what ``cutover shadow serve`` and ``cutover up`` start)."""

from __future__ import annotations

import ipaddress

import uvicorn

from ..config import ProjectConfig
from ..errors import CutoverError
from ..parity.compare import load_rules
from .server import Comparator
from .store import ShadowStore

DEFAULT_PORT = 8003


def comparator(project: ProjectConfig, *, legacy: str, modern: str, store: str | None = None) -> Comparator:
    """The comparator for ``project``: its parity rules, its ``[shadow]`` settings, its store."""
    shadow = project.shadow
    rules = load_rules(project.parity.rules if project.parity.rules.exists() else None)
    return Comparator(
        ShadowStore(store or shadow.url, keep=shadow.keep),
        legacy=legacy,
        modern=modern,
        rules=rules,
        queue=shadow.queue,
        workers=shadow.workers,
    )


def serve(app: Comparator, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (uvicorn's own handling: the queue is not waited for)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        # Copies carry the clients' credentials: the comparator is for the front door on this host only.
        raise CutoverError(f"the comparator listens on a loopback address only, not {host!r}")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,  # a copy's line would carry its query string: nothing of a request is logged
        log_level="warning",
        server_header=False,
    )
    uvicorn.Server(config).run()


__all__ = ["DEFAULT_PORT", "comparator", "serve"]
