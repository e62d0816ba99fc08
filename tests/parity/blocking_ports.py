"""The demo's port with the classic async mistakes, one per route, for the blocking-call detector's tests.

Each mistake is a small ASGI middleware around the real port (tests/parity/apps.py:modern_app) that does
the blocking thing on the event loop, inside ``async def``, before the real handler answers: the answer is
unchanged, so parity still matches, and only the detector can tell. ``renamed_and_sleeping_app`` also
changes an answer, to show a blocking call reported beside a mismatch, not instead of it.

- ``users`` (GET /api/users/): a synchronous SQLAlchemy session on psycopg (what the tutorials get wrong);
- ``user-detail`` (GET /api/users/<id>/): ``time.sleep``;
- ``auth-token`` (POST /api/auth/token/): a password hashed on the loop (the port's own PBKDF2 helper,
  called synchronously instead of through ``make_password``, which runs it in a thread);
- ``users-me`` (GET /api/users/me/): a blocking HTTP client (httpx.Client) calling a local server.
"""

from __future__ import annotations

import re
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from .apps import ASGIApp, RenamedField, modern_app, this_run_database_url

SLEEP = 0.02


class _OnTheLoop:
    """Runs ``self.block()`` on the loop for requests matching (method, path regex), then the real app."""

    def __init__(self, app: ASGIApp, method: str, path: str) -> None:
        self.app = app
        self.method = method
        self.path = re.compile(path)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == self.method and self.path.fullmatch(scope["path"]):
            self.block()
        await self.app(scope, receive, send)

    def block(self) -> None:
        raise NotImplementedError


@cache
def _sync_sessions() -> sessionmaker[Session]:
    # No pool: nothing stays connected to the test database once a request is answered.
    engine = create_engine(this_run_database_url().sqlalchemy_sync(), poolclass=NullPool)
    return sessionmaker(engine)


class SyncSession(_OnTheLoop):
    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, "GET", r"/api/users/")

    def block(self) -> None:
        from shared_db.models import User

        with _sync_sessions()() as db:
            db.scalar(select(func.count(User.id)))  # the mistake: a sync session inside async def


class Sleeping(_OnTheLoop):
    def __init__(self, app: ASGIApp, method: str = "GET", path: str = r"/api/users/\d+/") -> None:
        super().__init__(app, method, path)

    def block(self) -> None:
        time.sleep(SLEEP)  # noqa: ASYNC251 - the mistake the detector must catch


class HashingOnTheLoop(_OnTheLoop):
    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, "POST", r"/api/auth/token/")

    def block(self) -> None:
        from fastapi_app.compat.passwords import make_password_sync

        make_password_sync("the mistake: PBKDF2 on the event loop")


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@cache
def _local_server() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


class BlockingHttpClient(_OnTheLoop):
    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, "GET", r"/api/users/me/")

    def block(self) -> None:
        with httpx.Client() as client:
            client.get(_local_server())  # the mistake: a blocking HTTP client inside async def


def broken_port() -> ASGIApp:
    """For ``--modern-app tests.parity.blocking_ports:broken_port``: all four mistakes, one per route."""
    _local_server()  # started before the run: its thread is not the app's business
    return BlockingHttpClient(HashingOnTheLoop(Sleeping(SyncSession(modern_app()))))


def renamed_and_sleeping_app() -> ASGIApp:
    """``/api/users/me/`` answers ``user_name`` and sleeps on the loop: both must be reported."""
    return Sleeping(RenamedField(modern_app()), "GET", r"/api/users/me/")
