"""One Envoy front door with its own prefix directory, whose routes change live (no restart, no drain).

The bootstrap (``envoy.json``) holds what a move never changes: the listener, its filters, the clusters,
the access log. The routes come from ``routes.json``, a file-based RDS subscription: Envoy watches the file
and swaps its route table when a new one is *moved* onto it, for new requests only; no connection is
closed or drained, which is what makes a move, a canary share change or a rollback fail no request.

A change is applied as ``nginx`` moves are (``apply.py``): the new routes are validated first (``envoy
--mode validate`` on a static bootstrap with the same route table), then written, then read back from the
running Envoy (``/config_dump``: the new file's ``version_info``). If Envoy rejects the file (its
``update_rejected`` counter moves) or does not take it in time, the previous file is put back and nothing
has changed.

Envoy's admin interface (config dump, stats, and also ``/quitquitquit``) listens on a unix socket of
mode 0600 only, never on a TCP port: only the user who runs the stack can reach it, as with nginx's admin
token file. A long prefix path gets its socket in a private directory under the system's temp directory
(a socket path has at most 107 bytes), derived from the prefix so that every command finds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ..errors import CutoverError
from . import envoy, live
from .files import atomic_write
from .manifest import Manifest
from .render import fingerprint

DEFAULT_ENVOY_DIR = Path(".data") / "envoy"
BOOTSTRAP = "envoy.json"
ROUTES = "routes.json"
_SOCKET = "admin.sock"
_SOCKET_MAX = 100  # bytes; sun_path holds 108 with its NUL


class Envoy:
    """One Envoy instance rooted at ``prefix``: ``envoy.json``, ``routes.json``, ``logs/``."""

    def __init__(self, prefix: Path = DEFAULT_ENVOY_DIR) -> None:
        self.prefix = prefix.absolute()

    @property
    def bootstrap_path(self) -> Path:
        return self.prefix / BOOTSTRAP

    @property
    def routes_path(self) -> Path:
        return self.prefix / ROUTES

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "access.log"

    @property
    def stderr_log(self) -> Path:
        return self.prefix / "logs" / "stderr.log"

    @property
    def admin_socket(self) -> Path:
        path = self.prefix / _SOCKET
        if len(os.fsencode(path)) <= _SOCKET_MAX:
            return path
        digest = hashlib.sha256(os.fsencode(self.prefix)).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"cutover-envoy-{os.geteuid()}-{digest}" / _SOCKET

    def prepare(self) -> None:
        (self.prefix / "logs").mkdir(parents=True, exist_ok=True)
        self.admin_socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- rendering and installing ---------------------------------------------------------------------

    def bootstrap_text(self, manifest: Manifest, listen: str) -> str:
        config = envoy.bootstrap(
            manifest,
            listen=listen,
            access_log=str(self.access_log),
            routes_file=self.routes_path,
            admin_socket=self.admin_socket,
        )
        return json.dumps(config, indent=2) + "\n"

    def installed_bootstrap(self) -> str | None:
        try:
            return self.bootstrap_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def install(self, manifest: Manifest, listen: str) -> str:
        """Validate and write both files for the next start; return the routes' version."""
        self.prepare()
        text = self.bootstrap_text(manifest, listen)
        envoy.check_rendered(self._static(manifest, listen))
        self._check_bootstrap(manifest, listen)
        version = live.new_revision(fingerprint(manifest))
        atomic_write(self.bootstrap_path, text)
        atomic_write(self.routes_path, _routes_text(manifest, version))
        return version

    def _static(self, manifest: Manifest, listen: str) -> str:
        """The same front door with its routes inline, for ``envoy --mode validate`` (which reads no
        subscription file): what it accepts, the running Envoy accepts from ``routes.json``."""
        return envoy.render(manifest, listen=listen, access_log=str(self.access_log))

    def _check_bootstrap(self, manifest: Manifest, listen: str) -> None:
        """``envoy --mode validate`` on the bootstrap itself, reading its routes from a scratch file (the
        subscription's file must exist to validate)."""
        with tempfile.TemporaryDirectory(prefix="cutover-envoy-routes-") as scratch:
            routes = Path(scratch) / ROUTES
            routes.write_text(_routes_text(manifest, "check"), encoding="utf-8")
            config = envoy.bootstrap(
                manifest,
                listen=listen,
                access_log=str(self.access_log),
                routes_file=routes,
                admin_socket=self.admin_socket,
            )
            envoy.check_rendered(json.dumps(config))

    def argv(self, concurrency: int | None = None) -> list[str]:
        extra = ["--concurrency", str(concurrency)] if concurrency else []
        return envoy.command(self.bootstrap_path, *extra)

    # -- the running instance -------------------------------------------------------------------------

    def _admin(self, timeout: float = 5.0) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.admin_socket))
        return httpx.Client(transport=transport, base_url="http://envoy-admin", timeout=timeout)

    def running(self) -> bool:
        """True when an Envoy from this prefix answers on its admin socket."""
        if not self._listening():
            return False
        try:
            with self._admin(timeout=2) as admin:
                return admin.get("/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def _listening(self) -> bool:
        # Probed by hand first: httpx (httpcore) leaves the socket of a refused unix connection open.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            try:
                probe.connect(str(self.admin_socket))
            except OSError:
                return False
        return True

    def routes_version(self) -> str:
        """The ``version_info`` of the route table the running Envoy serves from."""
        data = self._get_json("/config_dump", {"resource": "dynamic_route_configs"})
        for config in data.get("configs", []):
            if config.get("route_config", {}).get("name") == envoy.ROUTE_CONFIG:
                return str(config.get("version_info", ""))
        return ""

    def _rejected(self) -> int:
        name = f"http.cutover.rds.{envoy.ROUTE_CONFIG}.update_rejected"
        stats = self._get_json("/stats", {"format": "json", "filter": f"^{name}$"})
        return sum(int(s.get("value", 0)) for s in stats.get("stats", []) if s.get("name") == name)

    def _get_json(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            with self._admin() as admin:
                response = admin.get(path, params=params)
                response.raise_for_status()
                return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise live.LiveError(f"Envoy's admin socket {self.admin_socket} did not answer: {exc}") from None

    def push(self, manifest: Manifest, listen: str, timeout: float = 10.0) -> str:
        """Serve ``manifest``'s routes from now on (validated, written, read back); return their version.

        On any failure the previous routes file is back in place and the running routes are unchanged.
        """
        envoy.check_rendered(self._static(manifest, listen))
        version = live.new_revision(fingerprint(manifest))
        previous = self.routes_path.read_text(encoding="utf-8") if self.routes_path.exists() else None
        rejected = self._rejected()
        atomic_write(self.routes_path, _routes_text(manifest, version))
        deadline = time.monotonic() + timeout
        try:
            while self.routes_version() != version:
                if self._rejected() > rejected:
                    raise live.LiveError("Envoy rejected the new routes (see its log)")
                if time.monotonic() > deadline:
                    raise live.LiveError(f"Envoy did not take the new routes within {timeout:g}s")
                time.sleep(0.01)
        except live.LiveError as exc:
            if previous is not None:
                atomic_write(self.routes_path, previous)
                self._settle(json.loads(previous).get("version_info", ""), timeout)
            raise live.LiveError(f"cannot move the route live, nothing changed: {exc}") from None
        return version

    def _settle(self, version: str, timeout: float) -> None:
        """Wait until the restored file serves again (it may have replaced the new one already); best
        effort, the failure being reported is the first one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.routes_version() == version:
                    return
            except live.LiveError:
                return
            time.sleep(0.01)

    def start(self, concurrency: int = 1, timeout: float = 30.0) -> subprocess.Popen[bytes]:
        """Start Envoy on the installed files; return once it is ready (for tests and tools)."""
        if self.running():
            raise CutoverError(f"an Envoy from {self.prefix} is already running")
        self.prepare()
        with self.stderr_log.open("wb") as stderr:
            proc = subprocess.Popen(self.argv(concurrency), cwd=self.prefix, stderr=stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise CutoverError(f"envoy exited while starting: {_last(self.stderr_log)}")
            if self.running():
                return proc
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        raise CutoverError(f"envoy did not start within {timeout:g}s (see {self.stderr_log})")

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _routes_text(manifest: Manifest, version: str) -> str:
    return json.dumps(envoy.routes_document(manifest, version), indent=2) + "\n"


def _last(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][-300:] if lines else "(no output)"


__all__ = ["DEFAULT_ENVOY_DIR", "Envoy"]
