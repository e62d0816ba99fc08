"""Which front door a command works on: nginx or Envoy, found from its prefix directory.

``cutover up`` runs one of them (``--front-door``, else the config's ``[proxy] front_door``) with its files
in ``.data/nginx`` or ``.data/envoy``. The other commands (``move``, ``rollback``, ``routes``, ``render``)
act on the one that is running; with ``--proxy-dir`` on the one whose files are there; when none runs, on
the configured kind (whose files are then checked and written for the next start).
"""

from __future__ import annotations

from pathlib import Path

from .envoy_door import BOOTSTRAP, Envoy
from .nginx import Nginx

FrontDoor = Nginx | Envoy
KINDS = ("nginx", "envoy")
DATA_DIR = Path(".data")


def kind_of(door: FrontDoor) -> str:
    return "envoy" if isinstance(door, Envoy) else "nginx"


def make(kind: str, prefix: Path) -> FrontDoor:
    return Envoy(prefix) if kind == "envoy" else Nginx(prefix)


def door_at(prefix: Path) -> FrontDoor:
    """The front door whose files are in ``prefix``: Envoy when its bootstrap is there, else nginx."""
    return Envoy(prefix) if (prefix / BOOTSTRAP).exists() else Nginx(prefix)


def project_door(root: Path, configured: str = "nginx") -> FrontDoor:
    """The project's front door: the one running from ``.data/<kind>``, else the ``configured`` kind."""
    order = sorted(KINDS, key=lambda kind: kind != configured)
    doors = [make(kind, root / DATA_DIR / kind) for kind in order]
    for door in doors:
        if door.running():
            return door
    return doors[0]


def status(door: FrontDoor) -> str:
    """One line: which front door, and whether it runs."""
    if isinstance(door, Envoy):
        running = door.running()
        return f"envoy: running (admin socket {door.admin_socket})" if running else "envoy: not running"
    pid = door.running_pid()
    return f"nginx: running (pid {pid})" if pid else "nginx: not running"


__all__ = ["KINDS", "FrontDoor", "door_at", "kind_of", "make", "project_door", "status"]
