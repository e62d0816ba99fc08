"""Both apps as real servers on loopback (gunicorn for Django, uvicorn for the port), on this run's test
database, and a raw HTTP/1.1 client: what a server does with the bytes of a request (duplicated headers,
unknown methods, ``Expect``, a body it should not read) is only seen over a socket.

The servers are started as ``cutover up`` starts them (``cutover/stack.py``), one worker each, on free
ports, with the cheap password hashes of ``live_settings.py`` / ``live_modern.py``.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cutover.database import child_env
from cutover.runner import Service, Supervisor
from cutover.stack import StackConfig, legacy_service, modern_service
from tests.parity.apps import this_run_database_url
from tests.ports import free_port

MODERN_APP = "tests.cross.live_modern:app"


def _modern_argv(argv: Sequence[str]) -> list[str]:
    """The stack's uvicorn argv (its protocol and flags included: tests/modern/test_stack.py) with the
    test app."""
    out = list(argv)
    out[out.index("fastapi_app.main:app")] = MODERN_APP
    out.append("--factory")
    return out


@dataclass(frozen=True)
class LiveServers:
    legacy: int  # ports on 127.0.0.1
    modern: int

    @property
    def ports(self) -> dict[str, int]:
        return {"legacy": self.legacy, "modern": self.modern}


@contextmanager
def live_servers() -> Iterator[LiveServers]:
    env = child_env(this_run_database_url(), DJANGO_SETTINGS_MODULE="tests.cross.live_settings")
    config = StackConfig(
        legacy_port=free_port(),
        legacy_workers=1,
        legacy_threads=4,
        modern_port=free_port(),
        modern_workers=1,
        app_access_logs=False,
    )
    legacy = legacy_service(config, env)
    modern = modern_service(config, env)
    modern = Service(modern.name, _modern_argv(modern.argv), env, modern.url)
    with Supervisor([legacy, modern]):
        yield LiveServers(config.legacy_port, config.modern_port)


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.header('content-type')} {self.body[:200]!r}>"


class _KeepOpen(io.BufferedReader):
    def close(self) -> None:  # http.client closes its file after each response
        pass


class _Reader:
    """One buffered reader shared by the responses read from a connection (pipelined answers)."""

    def __init__(self, sock: socket.socket) -> None:
        self.file = _KeepOpen(socket.SocketIO(sock, "rb"))

    def makefile(self, *args: object, **kwargs: object) -> io.BufferedReader:
        return self.file  # type: ignore[return-value]


class Connection:
    """A raw HTTP/1.1 connection: send any bytes, read the answers one by one."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = _Reader(self.sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_in_background(self, data: bytes) -> threading.Thread:
        """Send ``data`` from a thread (a server may answer before it reads a large body)."""

        def send() -> None:
            try:
                self.sock.sendall(data)
            except OSError:
                pass  # the server closed after answering

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        return thread

    def read(self, method: str = "GET") -> RawResponse:
        response = http.client.HTTPResponse(self.reader, method=method)  # type: ignore[arg-type]
        response.begin()
        body = response.read()
        return RawResponse(response.status, list(response.getheaders()), body)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request_bytes(
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    host: str | None = "127.0.0.1",
) -> bytes:
    """A request exactly as given: headers repeated or in any case; ``Content-Length`` added for a body."""
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{name}: {value}" for name, value in headers]
    if body and not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(port: int, data: bytes, method: str = "GET") -> RawResponse:
    """Send one request on a new connection and read its answer."""
    with Connection(port) as conn:
        conn.send(data)
        return conn.read(method)
