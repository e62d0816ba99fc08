"""What Django's middleware stack does around every view, for the port's answers.

``CommonMiddleware`` checks the host against ``ALLOWED_HOSTS`` first (a 400 page, without
``X-Frame-Options``: the exception is raised before XFrameOptionsMiddleware is reached);
``XFrameOptionsMiddleware`` adds ``X-Frame-Options: DENY`` (not to the APPEND_SLASH redirect, which
replaces the response after it ran); ``SecurityMiddleware`` adds ``nosniff``, ``Referrer-Policy`` and
``Cross-Origin-Opener-Policy`` to everything. An unexpected error is Django's 500 page, with the headers;
an error Django itself fails to handle is gunicorn's bare 500 page, without any.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import GunicornCrash
from .hosts import host_of, validate_host
from .rendering import django_error_page

__all__ = ["DjangoMiddleware"]

logger = logging.getLogger("catalog_api")

# gunicorn's util.write_error page for an exception the WSGI app let out.
GUNICORN_500 = b"""<html>
  <head>
    <title>Internal Server Error</title>
  </head>
  <body>
    <h1><p>Internal Server Error</p></h1>
    
  </body>
</html>
"""

SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


class DjangoMiddleware:
    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not validate_host(host_of(Request(scope)), self.allowed_hosts):
            await self._page(scope, receive, send, 400, xframe=False)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                if scope.get("state", {}).get("xframe", True) and "x-frame-options" not in headers:
                    headers["X-Frame-Options"] = "DENY"
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except GunicornCrash:
            if started:
                raise
            await Response(GUNICORN_500, 500, {"Content-Type": "text/html", "Connection": "close"})(
                scope, receive, send
            )
        except Exception:
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            vary = ("Cookie",) if scope.get("state", {}).get("vary_cookie") else ()
            await self._page(scope, receive, send, 500, xframe=True, vary=vary)

    @staticmethod
    async def _page(
        scope: Scope, receive: Receive, send: Send, status: int, *, xframe: bool, vary: tuple[str, ...] = ()
    ) -> None:
        response = django_error_page(status)
        if vary:
            response.headers["Vary"] = ", ".join(vary)
        if xframe:
            response.headers["X-Frame-Options"] = "DENY"
        for name, value in SECURITY_HEADERS:
            response.headers[name] = value
        await response(scope, receive, send)
