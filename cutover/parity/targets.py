"""Targets: anything that answers HTTP. Django in-process (WSGI), an ASGI app in-process, or a live URL.

Every target is driven synchronously. Django's ORM refuses to run inside an event loop, so the engine
never runs one in its own thread; an ASGI app runs on a private event loop in a helper thread (anyio's
blocking portal), which also keeps the app's connection pool on one loop for the whole run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .wsgi_transport import ServerWSGITransport

__all__ = [
    "ASGITarget",
    "LiveTarget",
    "Request",
    "Response",
    "Target",
    "WSGITarget",
    "allowed_origin",
    "django_wsgi_target",
]

IN_PROCESS_ORIGIN = (
    "http://testserver"  # Django's test host; in-process sessions pick one ALLOWED_HOSTS accepts
)
TIMEOUT = httpx.Timeout(30.0)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: bytes | None


@dataclass(frozen=True)
class Response:
    status: int
    headers: httpx.Headers
    body: bytes
    started: float  # wall-clock time the request was sent: timestamps written "now" are near it
    elapsed: float


class Target(Protocol):
    name: str
    origin: str  # scheme://host[:port] the target sees itself as: links to it are normalised

    def send(self, request: Request) -> Response: ...

    def close(self) -> None: ...


def _build(client: httpx.Client | httpx.AsyncClient, request: Request) -> httpx.Request:
    return client.build_request(
        request.method,
        request.path,
        params=list(request.query) or None,
        headers=list(request.headers),
        content=request.body,
    )


class _SyncTarget:
    def __init__(self, name: str, transport: httpx.BaseTransport | None, origin: str) -> None:
        self.name = name
        self.origin = origin.rstrip("/")
        self._client = httpx.Client(transport=transport, base_url=self.origin, timeout=TIMEOUT)

    def send(self, request: Request) -> Response:
        started = time.time()
        t0 = time.perf_counter()
        # No cookie jar between cases: every cookie a request carries is in its own headers.
        self._client.cookies.clear()
        response = self._client.send(_build(self._client, request), follow_redirects=False)
        return Response(
            response.status_code, response.headers, response.read(), started, time.perf_counter() - t0
        )

    def close(self) -> None:
        self._client.close()


class WSGITarget(_SyncTarget):
    """A WSGI app called in this process (the Django app), on a worker thread of its own.

    A thread of its own, as under a threaded WSGI server: Django's connection there is outside any
    transaction the calling thread holds (pytest-django wraps each test in one), so every write is
    committed and visible to the other app. ``on_close`` runs on that thread at the end (closing
    Django's connections, so the database can be dropped).
    """

    def __init__(
        self, app: Callable[..., Any], name: str = "legacy", *, on_close: Callable[[], Any] | None = None,
        origin: str = IN_PROCESS_ORIGIN,
    ) -> None:  # fmt: skip
        super().__init__(name, ServerWSGITransport(app), origin)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"parity-{name}")
        self._on_close = on_close

    def send(self, request: Request) -> Response:
        return self._worker.submit(super().send, request).result()

    def close(self) -> None:
        try:
            if self._on_close is not None:
                self._worker.submit(self._on_close).result()
        finally:
            self._worker.shutdown()
            super().close()


class LiveTarget(_SyncTarget):
    """A server answering at a base URL (``--legacy`` / ``--modern``)."""

    def __init__(self, base_url: str, name: str) -> None:
        parsed = httpx.URL(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"{name} URL must be http(s)://host[:port], got {base_url!r}")
        super().__init__(name, None, base_url)


class _Lifespan:
    """The ASGI lifespan protocol, as a server speaks it: startup before the first request, shutdown last.

    An app that does not speak it (it raises on the lifespan scope, as Django's handler does) runs
    without, as the ASGI spec says servers should allow.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        await self.app(scope, self._to_app.get, self._from_app.put)

    async def _exchange(self, event: str) -> None:
        assert self._task is not None
        await self._to_app.put({"type": f"lifespan.{event}"})
        reply = asyncio.ensure_future(self._from_app.get())
        done, _ = await asyncio.wait({reply, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if reply not in done:
            reply.cancel()
            if event == "startup" and self._task.exception() is not None:
                self._task = None  # no lifespan support: carry on without
                return
            raise RuntimeError(f"the app stopped during lifespan {event}: {self._task.exception()!r}")
        message = reply.result()
        if message["type"] == f"lifespan.{event}.failed":
            raise RuntimeError(f"lifespan {event} failed: {message.get('message', '')}")

    async def startup(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        await self._exchange("startup")

    async def shutdown(self) -> None:
        if self._task is not None:
            await self._exchange("shutdown")
            await self._task


class ASGITarget:
    """An ASGI app called in this process on its own event loop (the FastAPI app, or an altered one).

    ``lifespan`` runs the app's startup and shutdown (its connection pool, say) around the requests.
    """

    def __init__(
        self, app: Any, name: str = "modern", *, lifespan: bool = True, origin: str = IN_PROCESS_ORIGIN
    ) -> None:
        self.name = name
        self.origin = origin.rstrip("/")
        self._stack = ExitStack()
        self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal())
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url=self.origin,
            timeout=TIMEOUT,
        )
        self._lifespan: _Lifespan | None = None
        if lifespan:
            try:
                self._lifespan = self._portal.call(self._start, app)
            except BaseException:
                self._stack.close()
                raise

    @staticmethod
    async def _start(app: Any) -> _Lifespan:
        lifespan = _Lifespan(app)
        await lifespan.startup()
        return lifespan

    async def _send(self, request: Request) -> tuple[int, httpx.Headers, bytes]:
        self._client.cookies.clear()
        response = await self._client.send(_build(self._client, request), follow_redirects=False)
        return response.status_code, response.headers, await response.aread()

    def send(self, request: Request) -> Response:
        started = time.time()
        t0 = time.perf_counter()
        status, headers, body = self._portal.call(self._send, request)
        return Response(status, headers, body, started, time.perf_counter() - t0)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` (an async function) on the app's event loop: disposing pools, for example."""
        return self._portal.call(fn, *args)

    def close(self) -> None:
        try:
            self._portal.call(self._client.aclose)
            if self._lifespan is not None:
                self._portal.call(self._lifespan.shutdown)
        finally:
            self._stack.close()


def django_wsgi_target(
    name: str = "legacy", *, app: Callable[..., Any] | None = None, origin: str = IN_PROCESS_ORIGIN
) -> WSGITarget:
    """The configured Django project as a target (Django must already be set up in this process).

    ``app`` defaults to the project's own WSGI application (the settings' ``WSGI_APPLICATION``).
    """
    from django.core.servers.basehttp import get_internal_wsgi_application
    from django.db import connections

    return WSGITarget(
        app or get_internal_wsgi_application(), name, on_close=connections.close_all, origin=origin
    )


def allowed_origin() -> str:
    """``http://HOST`` for a host the project's ``ALLOWED_HOSTS`` accepts (Django must be set up).

    The first concrete host of the setting (``.example.com`` gives ``example.com``); ``testserver`` only
    where the setting allows it (``*``, or Django's test environment). ValueError when it accepts none.
    """
    from django.conf import settings
    from django.http.request import validate_host

    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # what Django accepts then
    for entry in allowed:
        host = entry.lstrip(".")
        if host and "*" not in host and validate_host(host, allowed):
            return f"http://{host}"
    if validate_host("testserver", allowed):
        return "http://testserver"
    raise ValueError(f"the project's ALLOWED_HOSTS accepts no host to call it with ({allowed!r})")
