"""ASGI apps for the parity tests: the real FastAPI port on the test database, and altered versions of it.

Each alteration is a small ASGI middleware around the real app that changes one thing on one route, the
way a porting mistake would. The engine must report each as a mismatch on that route and nowhere else.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import psycopg

from cutover.dburl import DatabaseURL

ASGIApp = Callable[..., Any]


def this_run_database_url() -> DatabaseURL:
    """The database pytest-django created for this run (the one Django in this process uses)."""
    from django.db import connection

    return DatabaseURL.parse(os.environ["DATABASE_URL"]).with_name(connection.settings_dict["NAME"])


def modern_app() -> Any:
    """The FastAPI port, configured like the Django app of this process (database, secret)."""
    from django.conf import settings

    from fastapi_app.main import create_app
    from fastapi_app.settings import Settings

    return create_app(
        Settings(
            DATABASE_URL=this_run_database_url().libpq(),
            SECRET_KEY=settings.SECRET_KEY,
            SECRET_KEY_FALLBACKS=list(settings.SECRET_KEY_FALLBACKS),
        )
    )


class _Rewrite:
    """Buffers the response of requests matching (method, path regex) and lets ``change`` rewrite it."""

    def __init__(self, app: ASGIApp, method: str | None, path: str) -> None:
        self.app = app
        self.method = method
        self.path = re.compile(path)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Everything else (the lifespan included) passes through untouched.
        if (
            scope["type"] != "http"
            or not self.path.fullmatch(scope["path"])
            or (self.method and scope["method"] != self.method)
        ):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        status, body = await self.change(scope, start["status"], b"".join(chunks))
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def change(self, scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes]:
        raise NotImplementedError


def _json_change(fn: Callable[[Any], Any]) -> Callable[[bytes], bytes]:
    def apply(body: bytes) -> bytes:
        try:
            data = json.loads(body)
        except ValueError:
            return body
        return json.dumps(fn(data)).encode()

    return apply


class RenamedField(_Rewrite):
    """``/api/users/me/`` answers ``user_name`` instead of ``username``."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, "GET", r"/api/users/me/")

    async def change(self, scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes]:
        rename = _json_change(lambda d: {("user_name" if k == "username" else k): v for k, v in d.items()})
        return status, rename(body)


class ChangedStatus(_Rewrite):
    """A successful sign-up answers 200 instead of 201."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, "POST", r"/api/users/")

    async def change(self, scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes]:
        return (200 if status == 201 else status), body


class DatetimeRendering(_Rewrite):
    """``/api/users/<id>/`` renders datetimes with ``+00:00`` instead of DRF's ``Z``."""

    def __init__(self, app: ASGIApp, path: str = r"/api/users/\d+/") -> None:
        super().__init__(app, None, path)

    async def change(self, scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes]:
        return status, re.sub(rb'(\d{2}:\d{2}:\d{2}(\.\d+)?)Z"', rb'\1+00:00"', body)


class ReversedList(_Rewrite):
    """The list answers each page's results in reverse order."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, "GET", r"/api/users/")

    async def change(self, scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes]:
        def flip(data: Any) -> Any:
            if isinstance(data, dict) and isinstance(data.get("results"), list):
                data["results"] = data["results"][::-1]
            return data

        return status, _json_change(flip)(body)


class LeakedToken(_Rewrite):
    """The token endpoint answers another (secret) token than the legacy: the report must not show it."""

    def __init__(self, app: ASGIApp, leak: str) -> None:
        super().__init__(app, "POST", r"/api/auth/token/")
        self.leak = leak

    async def change(self, scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes]:
        return status, _json_change(lambda d: {**d, "token": self.leak} if "token" in d else d)(body)


class InactiveByDefault(_Rewrite):
    """Sign-up answers like the legacy, but the row it wrote has ``is_active = false`` (a wrong default)."""

    def __init__(self, app: ASGIApp, url: DatabaseURL) -> None:
        super().__init__(app, "POST", r"/api/users/")
        self.url = url

    async def change(self, scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes]:
        if status == 201:
            import anyio.to_thread

            user_id = json.loads(body)["id"]
            await anyio.to_thread.run_sync(self._write, user_id)
        return status, body

    def _write(self, user_id: int) -> None:
        with psycopg.connect(self.url.libpq(), autocommit=True) as conn:
            conn.execute("UPDATE users SET is_active = false WHERE id = %s", (user_id,))


def renamed_field_app() -> ASGIApp:
    """For ``cutover parity --modern-app tests.parity.apps:renamed_field_app``."""
    return RenamedField(modern_app())


class _DjangoASGI:
    """The legacy itself as an ASGI app: a modern target known to be identical (the engine's control).

    Django's WSGI app adapted by asgiref (not Django's ASGI handler, whose per-request threads would
    each leave a connection behind): it runs on asgiref's one sync thread, whose connections are closed
    at lifespan shutdown, so the test database can be dropped at the end of the run.
    """

    def __init__(self) -> None:
        from asgiref.wsgi import WsgiToAsgi
        from django.core.wsgi import get_wsgi_application

        self.app = WsgiToAsgi(get_wsgi_application())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        from asgiref.sync import sync_to_async
        from django.db import connections

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await sync_to_async(connections.close_all, thread_sensitive=True)()
                await send({"type": "lifespan.shutdown.complete"})
                return


def legacy_asgi_app() -> ASGIApp:
    """For ``cutover parity --modern-app tests.parity.apps:legacy_asgi_app``: the legacy against itself."""
    return _DjangoASGI()


def renamed_field_on_legacy_app() -> ASGIApp:
    return RenamedField(_DjangoASGI())


class RewrittenSignupRow(_Rewrite):
    """Sign-up answers like the legacy, then ``UPDATE users SET <assignment>`` on the new row."""

    def __init__(self, app: ASGIApp, url: DatabaseURL, assignment: str, *params: Any) -> None:
        super().__init__(app, "POST", r"/api/users/")
        self.url = url
        self.assignment = assignment
        self.params = params

    async def change(self, scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes]:
        if status == 201:
            import anyio.to_thread

            await anyio.to_thread.run_sync(self._write, json.loads(body)["id"])
        return status, body

    def _write(self, user_id: int) -> None:
        with psycopg.connect(self.url.libpq(), autocommit=True) as conn:
            conn.execute(f"UPDATE users SET {self.assignment} WHERE id = %s", (*self.params, user_id))
