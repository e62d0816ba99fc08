"""Process supervision for ``cutover up``: start the servers, wait until they answer, stop them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from .errors import CutoverError


@dataclass
class Service:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    url: str  # an HTTP URL that answers (any status) once the service is ready
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def check_port_free(self) -> None:
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise CutoverError(
                    f"port {port} on {host} is already in use; "
                    f"stop what holds it or give the {self.name} server another port"
                ) from None

    def start(self) -> None:
        # A session of its own: the supervisor decides when the service stops, not the terminal's Ctrl-C.
        self.process = subprocess.Popen(list(self.argv), env=self.env, start_new_session=True)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise CutoverError(f"{self.name} exited with code {self.process.returncode} while starting")
            try:
                httpx.get(self.url, timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise CutoverError(f"{self.name} did not answer at {self.url} within {timeout:.0f}s")

    def stop(self, grace: float = 10.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass


class Supervisor:
    """Starts services in order and stops them in reverse; a service that dies takes the stack down."""

    def __init__(self, services: Sequence[Service]) -> None:
        self.services = list(services)

    def __enter__(self) -> Supervisor:
        try:
            for service in self.services:
                service.check_port_free()
            for service in self.services:
                service.start()
                service.wait_ready(timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def wait(self) -> None:
        """Block until a signal arrives (SIGINT/SIGTERM) or a service exits on its own."""
        while True:
            for service in self.services:
                assert service.process is not None
                if service.process.poll() is not None:
                    raise CutoverError(
                        f"{service.name} exited unexpectedly (code {service.process.returncode})"
                    )
            time.sleep(0.5)


class Terminated(Exception):
    """Raised in the main thread when SIGTERM arrives, so that context managers clean up."""


def install_stop_signals() -> None:
    """The first SIGINT (KeyboardInterrupt) or SIGTERM (Terminated) stops the stack; later ones are ignored
    so they cannot interrupt the cleanup. Installed explicitly because a non-interactive shell starts
    background jobs with SIGINT ignored, and Python would then never raise KeyboardInterrupt."""

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
