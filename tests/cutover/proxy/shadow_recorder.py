"""A stand-in for the shadow comparator (``cutover shadow serve``): a real HTTP/1.1 server on a loopback
port that records every request it receives (method, target, headers, body length) and answers 204 at
once, as the comparator does after queueing a copy.

``Recorder`` runs in the test process (a thread per connection, so the front door's kept-alive
connections are served concurrently), so a test reads what arrived directly. ``Hung`` accepts connections
and never answers: a comparator that has stopped responding.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Copy:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body_length: int

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the front doors' upstreams expect
    server: _Server

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.record(Copy(self.command, self.path, list(self.headers.items()), len(body)))
        self.send_response(204)
        self.end_headers()

    do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_PATCH = do_DELETE = _record

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.copies: list[Copy] = []
        self.connections = 0

    def record(self, copy: Copy) -> None:
        with self.lock:
            self.copies.append(copy)

    def get_request(self):  # type: ignore[no-untyped-def]
        with self.lock:
            self.connections += 1
        return super().get_request()


class Recorder:
    """Record every request on ``127.0.0.1:port``; answer each with 204 at once."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = _Server(self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def copies(self) -> list[Copy]:
        assert self._server is not None
        with self._server.lock:
            return list(self._server.copies)

    @property
    def connections(self) -> int:
        assert self._server is not None
        with self._server.lock:
            return self._server.connections

    def clear(self) -> None:
        assert self._server is not None
        with self._server.lock:
            self._server.copies.clear()

    def wait_for(self, count: int, timeout: float = 10) -> list[Copy]:
        """The copies once there are ``count`` of them (the front door sends them in the background)."""
        deadline = time.monotonic() + timeout
        while len(self.copies) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.copies

    def settle(self, quiet: float = 0.5, timeout: float = 15) -> list[Copy]:
        """The copies once none has arrived for ``quiet`` seconds: all that the front door will send."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.copies), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = len(self.copies)
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return self.copies


class Hung:
    """Accept connections on ``127.0.0.1:port`` and never answer (nor close): a hung comparator."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted = 0
        self._socket: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", self.port), backlog=256)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        listener = self._socket
        assert listener is not None
        listener.settimeout(0.1)  # so that stop() ends the loop
        while self._socket is not None:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)
            self.accepted += 1

    def stop(self) -> None:
        listener, self._socket = self._socket, None
        if self._thread is not None:
            self._thread.join()
        if listener is not None:
            listener.close()
        for conn in self._held:
            conn.close()
        self._held.clear()
