"""A real nginx in front of a legacy echo server and a modern test double that can be made to fail or slow
down (``faulty_app.py``), shared by the module; a load of distinct sticky keys through the front door."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cutover.proxy.conftest import (  # noqa: F401  (fixtures)
    REPO,
    EchoServer,
    door_kind,
    free_port,
    make_front_door,
    manifest_text,
    stop,
    wait_until_serving,
)
from tests.cutover.proxy.test_routes_cli import repo  # noqa: F401  (a clean git work tree, a fixture)


@dataclass
class Backends:
    legacy: EchoServer
    modern: subprocess.Popen[bytes]
    modern_address: str
    faults: Path

    def fault(self, name: str) -> None:
        (self.faults / name).touch()

    def heal(self) -> None:
        for name in ("fail", "slow"):
            (self.faults / name).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def backends(tmp_path_factory) -> Iterator[Backends]:
    faults = tmp_path_factory.mktemp("faults")
    legacy = EchoServer("legacy", free_port())
    legacy.start()
    port = free_port()
    env = {**os.environ, "ECHO_NAME": "modern", "FAULTS_DIR": str(faults)}
    command = [sys.executable, "-m", "uvicorn", "tests.cutover.promote.faulty_app:app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    modern = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", modern)
        yield Backends(legacy, modern, f"127.0.0.1:{port}", faults)
    finally:
        stop(modern)
        legacy.stop()


@pytest.fixture
def front(backends: Backends, make_front_door):  # noqa: F811
    backends.heal()
    yield make_front_door(manifest_text(backends.legacy.address, backends.modern_address))
    backends.heal()


class Load:
    """Clients sending GET /api/users/ through the front door, each request with its own sticky key (so a
    canary splits them), until stopped; each pauses between requests (some 150 a second in all, plenty for
    the windows, and CPU left for the rest of a two-core machine)."""

    def __init__(self, url: str, threads: int = 4, pause: float = 0.02) -> None:
        self.pause = pause
        self.url = url
        self.stopped = threading.Event()
        self.sent = 0
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, n: int) -> None:
        i = 0
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stopped.is_set():
                i += 1
                try:
                    client.get("/api/users/", headers={"Authorization": f"Token load-{n}-{i}"})
                except httpx.HTTPError:
                    pass
                self.sent += 1
                self.stopped.wait(self.pause)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(15)


@pytest.fixture
def load(front) -> Iterator[Load]:
    with Load(front.url) as running:
        yield running
