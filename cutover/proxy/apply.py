"""Putting a manifest into service: render, ``nginx -t``, install, reload; and moving one route safely.

Every change follows the same order so that a failure at any step leaves what was serving still serving:
the new configuration is validated by nginx before it replaces anything, the manifest file is replaced
atomically, and if nginx refuses to reload both files are put back.

A move on a running front door whose structure (routes, paths, backends, settings) matches the manifest
needs no reload (``live.py``): the new state of every movable route is pushed to the running workers
and read back, and only then are the manifest and ``nginx.conf`` (for the next start) replaced. If the
push fails, nothing has changed. A move whose manifest differs in structure from the running
configuration (a hand edit since the last start) is applied with a graceful reload, as before.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import CutoverError
from . import live
from .doors import FrontDoor
from .envoy_door import Envoy
from .files import atomic_write
from .manifest import Backend, Manifest, ManifestError, Route, parse_manifest, read_text, set_route_mode
from .nginx import Nginx, NginxError
from .render import DEFAULT_LISTEN, fingerprint, render

STATE_FILE = "cutover-proxy.json"

# (route, target mode, target percent): returns to allow the move, raises (MoveRefused) to refuse it
Gate = Callable[[Route, str, "int | None"], None]


@dataclass(frozen=True)
class ProxyTarget:
    """Where the rendered configuration listens and which servers it proxies to.

    ``cutover up`` may run the apps on other ports than the manifest's; it records them here (in the
    nginx prefix) so that ``cutover move`` re-renders for the stack that is actually running.
    """

    listen: str = DEFAULT_LISTEN
    servers: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    admin: str | None = None  # the loopback host:port of the live routing endpoint; None: none rendered

    def apply_to(self, manifest: Manifest) -> Manifest:
        if not self.servers:
            return manifest
        backends = dict(manifest.backends)
        for name, servers in self.servers.items():
            backends[name] = Backend(name, tuple(servers))
        return dataclasses.replace(manifest, backends=backends)


def read_target(door: FrontDoor, *, last: bool = False) -> ProxyTarget:
    """The running stack's target; the manifest's own addresses (and port 8000) when nothing is running,
    unless ``last``: then the target the front door was last installed for, where there is one."""
    if not last and not door.running():  # a stale file from a stack that has stopped says nothing
        return ProxyTarget()
    try:
        data = json.loads((door.prefix / STATE_FILE).read_text(encoding="utf-8"))
        admin = data.get("admin")
        return ProxyTarget(
            listen=str(data["listen"]),
            servers=dict(data.get("servers", {})),
            admin=str(admin) if admin else None,
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return ProxyTarget()


def write_target(door: FrontDoor, target: ProxyTarget) -> None:
    door.prepare()
    data = {
        "listen": target.listen,
        "servers": {k: list(v) for k, v in target.servers.items()},
        "admin": target.admin,
    }
    atomic_write(door.prefix / STATE_FILE, json.dumps(data, indent=2) + "\n")


def rendered(
    manifest: Manifest, target: ProxyTarget, revision: str | None = None, *, prefix: Path | None = None
) -> str:
    """nginx.conf for ``manifest`` served at ``target``; ``prefix``, the nginx prefix it is for, places
    the live directory (live.py) by its absolute path, as the locations' file tests need."""
    live_dir = str(prefix / live.LIVE_DIR) if prefix is not None else live.LIVE_DIR
    served = target.apply_to(manifest)
    return render(served, listen=target.listen, admin=target.admin, revision=revision, live_dir=live_dir)


def _installed(manifest: Manifest, target: ProxyTarget, nginx: Nginx) -> str:
    """The text to install: with a revision of its own, so live state pushed to an earlier configuration
    never applies to this one."""
    revision = live.new_revision(fingerprint(target.apply_to(manifest)))
    return rendered(manifest, target, revision, prefix=nginx.prefix)


def _forget_live_state(nginx: Nginx) -> None:
    """A stopped nginx's live directory: what was pushed to configurations that no longer serve."""
    if not nginx.running():
        shutil.rmtree(nginx.prefix / live.LIVE_DIR, ignore_errors=True)


def free_admin_address(host: str = "127.0.0.1") -> str:
    with socket.socket() as s:
        s.bind((host, 0))
        return f"{host}:{s.getsockname()[1]}"


def check_rendered(text: str, nginx: Nginx | None = None) -> None:
    """``nginx -t`` on ``text`` in a scratch prefix (nothing installed, nothing reloaded)."""
    with tempfile.TemporaryDirectory(prefix="cutover-nginx-check-") as scratch:
        probe = Nginx(Path(scratch), binary=nginx.binary if nginx else None)
        conf = probe.prefix / "nginx.conf"
        probe.prepare()
        conf.write_text(text, encoding="utf-8")
        probe.test(conf)


def install_manifest(manifest_path: Path, nginx: FrontDoor, target: ProxyTarget) -> Manifest:
    """Render the manifest for ``target``, validate it with the front door and install it for the next
    start.

    Without an admin address in ``target`` one is chosen (a free loopback port) for nginx's live endpoint;
    Envoy's admin interface is its unix socket.
    """
    manifest = parse_manifest(read_text(manifest_path), source=str(manifest_path))
    if isinstance(nginx, Envoy):
        with _locked(nginx):
            nginx.install(target.apply_to(manifest), target.listen)
            write_target(nginx, dataclasses.replace(target, admin=None))
        return manifest
    if target.admin is None:
        target = dataclasses.replace(target, admin=free_admin_address())
    with _locked(nginx):
        nginx.install(_installed(manifest, target, nginx))
        write_target(nginx, target)
        _forget_live_state(nginx)
    return manifest


@dataclass(frozen=True)
class MoveResult:
    before: Route
    after: Route
    reloaded: bool  # False when nginx is not running (the change applies at the next start) or moved live
    live: bool = False  # True when the running workers took the change without a reload
    pushed_other: bool = False  # live: the running state of some route changed (hand edits of the file)


def move_route(
    manifest_path: Path,
    nginx: FrontDoor,
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
        manifest = parse_manifest(text, source=source)
        before = manifest.route(route_id)
        new_text = set_route_mode(text, route_id, mode, percent, source=source)
        new_manifest = parse_manifest(new_text, source=source)
        if gate is not None:
            gate(before, mode, percent)
        if isinstance(nginx, Envoy):
            return _move_envoy(manifest_path, nginx, text, new_text, before, new_manifest, route_id)

        target = read_target(nginx)
        config = _installed(new_manifest, target, nginx)
        if target.admin is not None:  # running, with a live endpoint
            client = live.AdminClient(target.admin, live.ensure_token(nginx.prefix))
            running = client.read()  # unreachable or refused: LiveError, nothing changed
            if running.structure == live.structure(target.apply_to(new_manifest)):
                changed = _move_live(
                    manifest_path, nginx, client, running, new_text, manifest, new_manifest, config
                )
                after = new_manifest.route(route_id)
                return MoveResult(before, after, False, live=True, pushed_other=changed)

        previous_config = nginx.installed_text()
        nginx.install(config)  # nginx -t first: on rejection nothing has changed yet
        try:
            atomic_write(manifest_path, new_text)
            reloaded = nginx.reload()
        except (OSError, NginxError) as exc:
            # nginx still serves the previous configuration: make the files say so again.
            if previous_config is not None:
                atomic_write(nginx.conf_path, previous_config)
            if isinstance(exc, OSError):  # the manifest could not be written: it is unchanged
                raise CutoverError(f"cannot write {manifest_path}: {exc.strerror or exc}") from None
            atomic_write(manifest_path, text)
            raise
        return MoveResult(before, new_manifest.route(route_id), reloaded)


def _move_live(
    manifest_path: Path,
    nginx: Nginx,
    client: live.AdminClient,
    running: live.LiveView,
    new_text: str,
    manifest: Manifest,
    new_manifest: Manifest,
    config: str,
) -> bool:
    """Push the new manifest's state of every movable route, read it back, then write the files; whether
    the running state changed."""
    candidate = nginx.stage(config)  # nginx -t on what the next start will load; rejected: nothing changed
    wanted = live.states(new_manifest)
    try:
        client.push(running.revision, wanted)
        seen = client.read()
        if seen.revision != running.revision or dict(seen.routes) != wanted:
            raise live.LiveError(
                f"the front door did not take the new state (running revision {seen.revision}); "
                "run `cutover routes` and try again"
            )
    except live.LiveError as exc:
        candidate.unlink(missing_ok=True)
        _restore(client, running, manifest)
        raise live.LiveError(f"cannot move the route live, nothing changed: {exc}") from None
    try:
        _write_manifest(manifest_path, new_text)
    except CutoverError:
        candidate.unlink(missing_ok=True)
        _restore(client, running, manifest)
        raise
    os.replace(candidate, nginx.conf_path)
    return dict(running.routes) != wanted


def _move_envoy(
    manifest_path: Path,
    door: Envoy,
    text: str,
    new_text: str,
    before: Route,
    new_manifest: Manifest,
    route_id: str,
) -> MoveResult:
    """Envoy: the new routes file taken by the running Envoy and read back, then the manifest written.

    Only the routes change live; a manifest whose backends or ``[proxy]`` settings differ from those the
    running Envoy started with is refused (they are in its bootstrap: a restart applies them).
    """
    after = new_manifest.route(route_id)
    running = door.running()
    # Stopped: its files are rewritten for the addresses it last served (a restart from them serves
    # the new manifest there; `cutover up` renders them again anyway).
    target = read_target(door, last=not running)
    served = target.apply_to(new_manifest)
    if not running:  # checked and kept for the next start
        door.install(served, target.listen)
        _write_manifest(manifest_path, new_text)
        return MoveResult(before, after, False)
    if door.bootstrap_text(served, target.listen) != door.installed_bootstrap():
        raise live.LiveError(
            f"the running Envoy ({door.prefix}) started with other backends or [proxy] settings than "
            f"{manifest_path} has now; restart the stack to apply them (nothing changed)"
        )
    door.push(served, target.listen)  # validated, applied, read back; on failure nothing changed
    try:
        _write_manifest(manifest_path, new_text)
    except CutoverError:
        old = target.apply_to(parse_manifest(text, source=str(manifest_path)))
        door.push(old, target.listen)
        raise
    return MoveResult(before, after, False, live=True)


def _write_manifest(path: Path, text: str) -> None:
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise CutoverError(f"cannot write {path}: {exc.strerror or exc}") from None


def _restore(client: live.AdminClient, running: live.LiveView, manifest: Manifest) -> None:
    # The push may have landed before the failure (a lost answer): put the workers back on the state they
    # had, which is the unchanged file's. Best effort; the failure being reported is the first one.
    try:
        client.push(running.revision, dict(running.routes) or live.states(manifest))
    except live.LiveError:
        pass


@contextmanager
def _locked(door: FrontDoor) -> Iterator[None]:
    """One change at a time per front door prefix (two `cutover move` at once would lose one of them)."""
    door.prepare()
    with open(door.prefix / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


__all__ = [
    "FrontDoor",
    "ManifestError",
    "MoveResult",
    "ProxyTarget",
    "check_rendered",
    "free_admin_address",
    "install_manifest",
    "move_route",
    "read_target",
    "rendered",
    "write_target",
]
