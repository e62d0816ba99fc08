"""Real front doors in front of real servers, on free loopback ports (never 8000-8002, which `make run`
uses).

``echo_backends``: two tiny uvicorn servers (``echo_app.py``) that answer with their own name, for tests
where the app behind the proxy does not matter. ``front_door``: the front door from a manifest in
``tmp_path``: nginx, unless the test says otherwise through ``door_kind``. The routing suite runs against
both with ``pytestmark = BOTH_DOORS``, so nginx and Envoy cannot drift apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cutover.proxy.apply import ProxyTarget, install_manifest
from cutover.proxy.doors import FrontDoor as Door
from cutover.proxy.doors import kind_of
from cutover.proxy.envoy_door import Envoy
from cutover.proxy.manifest import load_manifest
from cutover.proxy.nginx import Nginx
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[3]


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} never answered")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def access_log(path: Path, count: int = 1, timeout: float = 5, until=None) -> list[dict]:
    """The access log's JSON entries once there are ``count`` of them (and one satisfies ``until``).

    nginx writes a request's log line after sending its response, so a client can see the response first.
    """
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        entries = [json.loads(line) for line in lines]
        done = len(entries) >= count and (until is None or any(until(e) for e in entries))
        if done or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


@dataclass
class EchoServer:
    name: str
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "ECHO_NAME": self.name}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.cutover.proxy.echo_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],  # fmt: skip
            cwd=REPO,
            env=env,
        )
        wait_until_serving(f"http://{self.address}/", self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@dataclass
class EchoBackends:
    legacy: EchoServer
    modern: EchoServer


@pytest.fixture(scope="module")
def echo_backends() -> Iterator[EchoBackends]:
    backends = EchoBackends(EchoServer("legacy", free_port()), EchoServer("modern", free_port()))
    backends.legacy.start()
    try:
        backends.modern.start()
        yield backends
    finally:
        backends.modern.stop()
        backends.legacy.stop()


# Routes the demo's manifest lacks, shared by the nginx and Envoy routing tests: one path split by method,
# and a pattern greedy enough to test precedence (exact and pinned prefixes win over it).
ORDERS_BY_METHOD = """
[[routes]]
id = "orders-read"
match = "prefix"
path = "/api/orders/"
methods = ["GET", "HEAD"]
mode = "modern"

[[routes]]
id = "orders-write"
match = "prefix"
path = "/api/orders/"
methods = ["POST", "PUT", "PATCH", "DELETE"]
mode = "legacy"
"""
GREEDY_PATTERN = """
[[routes]]
id = "greedy"
match = "pattern"
path = "^/(admin|api/users)/.*$"
mode = "modern"
"""


def manifest_text(legacy: str, modern: str, routes: str = "") -> str:
    """A manifest in the demo's shape (the users API), on the given backend addresses."""
    demo = (REPO / "migration_notes" / "routes.toml").read_text(encoding="utf-8")
    text = demo.replace('"127.0.0.1:8001"', f'"{legacy}"').replace('"127.0.0.1:8002"', f'"{modern}"')
    assert legacy in text and modern in text
    return text + routes


@dataclass
class FrontDoor:
    door: Door
    manifest: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def kind(self) -> str:
        return kind_of(self.door)

    @property
    def nginx(self) -> Nginx:
        """The nginx, for the tests of what only nginx has (its reloads, its admin endpoint)."""
        assert isinstance(self.door, Nginx), "an nginx-only test ran on another front door"
        return self.door

    @property
    def prefix(self) -> Path:
        return self.door.prefix

    @property
    def access_log(self) -> Path:
        return self.door.access_log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)

    def start(self) -> None:
        if isinstance(self.door, Envoy):
            workers = load_manifest(self.manifest).proxy.worker_processes  # as `cutover up` runs it
            self.proc = self.door.start(concurrency=workers)
        else:
            self.proc = self.door.start()

    def stop(self) -> None:
        self.door.stop(self.proc)
        assert self.proc.poll() is not None
        assert not self.door.running()


KINDS = ["nginx", "envoy"]
BOTH_DOORS = pytest.mark.parametrize("door_kind", KINDS)


@pytest.fixture
def door_kind() -> str:
    """The front door ``make_front_door`` starts: nginx, unless parametrised (``BOTH_DOORS``)."""
    return "nginx"


@pytest.fixture
def make_front_door(tmp_path: Path, door_kind: str) -> Iterator[Callable[..., FrontDoor]]:
    """Start a front door from a manifest text; every one started is stopped (and checked gone) after."""
    started: list[FrontDoor] = []

    def make(text: str, kind: str | None = None) -> FrontDoor:
        n = len(started)
        kind = kind or door_kind
        manifest = tmp_path / f"routes{n}.toml"
        manifest.write_text(text, encoding="utf-8")
        door: Door = Envoy(tmp_path / f"envoy{n}") if kind == "envoy" else Nginx(tmp_path / f"nginx{n}")
        port = free_port()
        install_manifest(manifest, door, ProxyTarget(listen=f"127.0.0.1:{port}"))
        front = FrontDoor(door, manifest, port, None)  # type: ignore[arg-type]
        front.start()
        started.append(front)
        return front

    yield make
    for front in started:
        front.stop()


@pytest.fixture
def front_door(echo_backends: EchoBackends, make_front_door) -> FrontDoor:
    return make_front_door(manifest_text(echo_backends.legacy.address, echo_backends.modern.address))
