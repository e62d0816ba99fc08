"""Targets: anything that answers HTTP. Django in-process (WSGI), an ASGI app in-process, or a live URL.

Every target is driven synchronously. Django's ORM refuses to run inside an event loop, so the engine
never runs one in its own thread; an ASGI app runs on a private event loop in a helper thread (anyio's
blocking portal), which also keeps the app's connection pool on one loop for the whole run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = [
    "ASGITarget",
    "LiveTarget",
    "Request",
    "Response",
    "Target",
    "WSGITarget",
    "django_wsgi_target",
]

IN_PROCESS_ORIGIN = "http://testserver"  # a host both apps allow (Django's ALLOWED_HOSTS has testserver)
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
    """A WSGI app called in this process (the Django app)."""

    def __init__(self, app: Callable[..., Any], name: str = "legacy") -> None:
        super().__init__(name, httpx.WSGITransport(app=app, raise_app_exceptions=False), IN_PROCESS_ORIGIN)


class LiveTarget(_SyncTarget):
    """A server answering at a base URL (``--legacy`` / ``--modern``)."""

    def __init__(self, base_url: str, name: str) -> None:
        parsed = httpx.URL(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"{name} URL must be http(s)://host[:port], got {base_url!r}")
        super().__init__(name, None, base_url)


class ASGITarget:
    """An ASGI app called in this process on its own event loop (the FastAPI app, or an altered one).

    ``lifespan`` runs the app's startup and shutdown (FastAPI's ``router.lifespan_context``) on that loop.
    """

    def __init__(self, app: Any, name: str = "modern", *, lifespan: bool = True) -> None:
        self.name = name
        self.origin = IN_PROCESS_ORIGIN
        self._stack = ExitStack()
        self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal())
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url=self.origin,
            timeout=TIMEOUT,
        )
        context = getattr(getattr(app, "router", None), "lifespan_context", None)
        if lifespan and context is not None:
            cm: AbstractContextManager[Any] = self._portal.wrap_async_context_manager(context(app))
            try:
                self._stack.enter_context(cm)
            except BaseException:
                self._stack.close()
                raise

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
        finally:
            self._stack.close()


def django_wsgi_target(name: str = "legacy") -> WSGITarget:
    """The configured Django project as a target (Django must already be set up in this process)."""
    from django.core.wsgi import get_wsgi_application

    return WSGITarget(get_wsgi_application(), name)
