"""Putting a manifest into service: render, ``nginx -t``, install, reload; and moving one route safely.

Every change follows the same order so that a failure at any step leaves what was serving still serving:
the new configuration is validated by nginx before it replaces anything, the manifest file is replaced
atomically, and if nginx refuses to reload both files are put back.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import CutoverError
from .manifest import Backend, Manifest, ManifestError, Route, parse_manifest, read_text, set_route_mode
from .nginx import Nginx, NginxError
from .render import DEFAULT_LISTEN, render

STATE_FILE = "cutover-proxy.json"

# (route, target mode, target percent) -> a warning to print, or raise to refuse
Gate = Callable[[Route, str, "int | None"], "str | None"]


@dataclass(frozen=True)
class ProxyTarget:
    """Where the rendered configuration listens and which servers it proxies to.

    ``cutover up`` may run the apps on other ports than the manifest's; it records them here (in the
    nginx prefix) so that ``cutover move`` re-renders for the stack that is actually running.
    """

    listen: str = DEFAULT_LISTEN
    servers: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)

    def apply_to(self, manifest: Manifest) -> Manifest:
        if not self.servers:
            return manifest
        backends = dict(manifest.backends)
        for name, servers in self.servers.items():
            backends[name] = Backend(name, tuple(servers))
        return dataclasses.replace(manifest, backends=backends)


def read_target(nginx: Nginx) -> ProxyTarget:
    """The running stack's target; the manifest's own addresses (and port 8000) when nginx is not running."""
    if nginx.running_pid() is None:  # a stale file from a stack that has stopped says nothing
        return ProxyTarget()
    try:
        data = json.loads((nginx.prefix / STATE_FILE).read_text(encoding="utf-8"))
        return ProxyTarget(listen=str(data["listen"]), servers=dict(data.get("servers", {})))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return ProxyTarget()


def write_target(nginx: Nginx, target: ProxyTarget) -> None:
    nginx.prepare()
    data = {"listen": target.listen, "servers": {k: list(v) for k, v in target.servers.items()}}
    _atomic_write(nginx.prefix / STATE_FILE, json.dumps(data, indent=2) + "\n")


def rendered(manifest: Manifest, target: ProxyTarget) -> str:
    return render(target.apply_to(manifest), listen=target.listen)


def check_rendered(text: str, nginx: Nginx | None = None) -> None:
    """``nginx -t`` on ``text`` in a scratch prefix (nothing installed, nothing reloaded)."""
    with tempfile.TemporaryDirectory(prefix="cutover-nginx-check-") as scratch:
        probe = Nginx(Path(scratch), binary=nginx.binary if nginx else None)
        conf = probe.prefix / "nginx.conf"
        probe.prepare()
        conf.write_text(text, encoding="utf-8")
        probe.test(conf)


def install_manifest(manifest_path: Path, nginx: Nginx, target: ProxyTarget) -> Manifest:
    """Render the manifest for ``target``, validate it with nginx and install it for the next start."""
    manifest = parse_manifest(read_text(manifest_path), source=str(manifest_path))
    with _locked(nginx):
        nginx.install(rendered(manifest, target))
        write_target(nginx, target)
    return manifest


@dataclass(frozen=True)
class MoveResult:
    before: Route
    after: Route
    reloaded: bool  # False when nginx is not running: the change applies at the next start
    warning: str | None


def move_route(
    manifest_path: Path,
    nginx: Nginx,
    route_id: str,
    mode: str,
    percent: int | None = None,
    *,
    gate: Gate | None = None,
) -> MoveResult:
    """Change one route's mode in the manifest and put it into service, or change nothing at all."""
    with _locked(nginx):
        source = str(manifest_path)
        text = read_text(manifest_path)
        before = parse_manifest(text, source=source).route(route_id)
        new_text = set_route_mode(text, route_id, mode, percent, source=source)
        new_manifest = parse_manifest(new_text, source=source)
        warning = gate(before, mode, percent) if gate is not None else None

        config = rendered(new_manifest, read_target(nginx))
        previous_config = nginx.installed_text()
        nginx.install(config)  # nginx -t first: on rejection nothing has changed yet
        try:
            _atomic_write(manifest_path, new_text)
            reloaded = nginx.reload()
        except (OSError, NginxError) as exc:
            # nginx still serves the previous configuration: make the files say so again.
            if previous_config is not None:
                _atomic_write(nginx.conf_path, previous_config)
            if isinstance(exc, OSError):  # the manifest could not be written: it is unchanged
                raise CutoverError(f"cannot write {manifest_path}: {exc.strerror or exc}") from None
            _atomic_write(manifest_path, text)
            raise
        return MoveResult(before, new_manifest.route(route_id), reloaded, warning)


def _atomic_write(path: Path, text: str) -> None:
    # Same directory, then rename: readers see the old file or the new one, never half of one.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(nginx: Nginx) -> Iterator[None]:
    """One change at a time per nginx prefix (two `cutover move` at once would lose one of them)."""
    nginx.prepare()
    with open(nginx.prefix / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


__all__ = [
    "ManifestError",
    "MoveResult",
    "ProxyTarget",
    "check_rendered",
    "install_manifest",
    "move_route",
    "read_target",
    "rendered",
    "write_target",
]
