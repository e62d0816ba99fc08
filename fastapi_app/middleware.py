"""What the legacy's Django middleware adds around every response, as one pure ASGI middleware.

First of all, the request's headers become what gunicorn hands Django (``environ.py``: repeated fields
joined, underscored names dropped, its refusals answered); then, as Django's middleware:

- ``CommonMiddleware``: ``request.get_host()`` validated against ``ALLOWED_HOSTS`` first (a 400 HTML page);
- ``SessionMiddleware``: ``Vary: Cookie`` when the session was read, the cookie deleted when it is empty;
- ``CsrfViewMiddleware``: a malformed ``csrftoken`` cookie is replaced by a new secret (and ``Vary: Cookie``);
- ``SecurityMiddleware``: ``X-Content-Type-Options``, ``Referrer-Policy``, ``Cross-Origin-Opener-Policy``;
- ``XFrameOptionsMiddleware``: ``X-Frame-Options: DENY`` (not on the responses made outside it: the
  ``APPEND_SLASH`` redirect and the bad-host page).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.utils import formatdate
from time import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .compat.csrf import CSRF_COOKIE_NAME, new_csrf_secret
from .environ import TrustedPeers, apply_gunicorn_headers
from .hosts import allowed_host
from .responses import django_error_page
from .sessions import SessionState

__all__ = ["LegacyMiddleware"]

CSRF_COOKIE_AGE = 31449600  # Django's default: a year
_CSRF_TOKEN = re.compile(r"[a-zA-Z0-9]{32}|[a-zA-Z0-9]{64}")

SECURITY_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
)


_X_FRAME_OPTIONS = (b"x-frame-options", b"DENY")
_RAW_SECURITY_HEADERS = tuple((name.encode(), value.encode()) for name, value in SECURITY_HEADERS)


def _add_legacy_headers(message: Message, xframe: bool, session: SessionState, new_csrf_cookie: bool) -> None:
    """The headers Django's middleware adds to a response (the module's docstring), on its raw list.

    Header names in an ASGI message are lower case (Starlette's ``MutableHeaders`` compares them so too):
    one set of them answers every "is it there" of a response, where ``MutableHeaders`` scans the list
    for each."""
    raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
    message["headers"] = raw
    present = {name for name, _ in raw}
    if xframe and b"x-frame-options" not in present:
        raw.append(_X_FRAME_OPTIONS)
    extra = session.response_headers()
    # Made inside CommonMiddleware like X-Frame-Options: the redirect and bad-host page lack it.
    if new_csrf_cookie and xframe:
        extra += [("set-cookie", _new_csrf_cookie()), ("vary", "Cookie")]
    if extra:
        out = MutableHeaders(raw=raw)
        for name, value in extra:
            if name == "vary":
                existing = out.get("vary")
                if not existing or "cookie" not in existing.lower():
                    out["Vary"] = f"{existing}, {value}" if existing else value
            else:
                out.append(name, value)
        present = {name for name, _ in raw}
    for header in _RAW_SECURITY_HEADERS:
        if header[0] not in present:
            raw.append(header)


def _new_csrf_cookie() -> str:
    expires = formatdate(time() + CSRF_COOKIE_AGE, usegmt=True)
    value = new_csrf_secret()
    return f"{CSRF_COOKIE_NAME}={value}; expires={expires}; Max-Age={CSRF_COOKIE_AGE}; Path=/; SameSite=Lax"


class LegacyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str],
        forwarded_allow_ips: Sequence[str] = ("127.0.0.1", "::1"),
    ) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)
        self.trusted_peers = TrustedPeers(forwarded_allow_ips)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = apply_gunicorn_headers(scope, self.trusted_peers)
        if refusal is not None:
            await refusal.send(send)
            return
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        cookies = cookie_parser(headers.get("cookie", ""))
        session = SessionState.from_cookies(cookies)
        state.update(cookies=cookies, session=session, xframe=True)
        csrf = cookies.get(CSRF_COOKIE_NAME)
        new_csrf_cookie = csrf is not None and not _CSRF_TOKEN.fullmatch(csrf)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_legacy_headers(message, state.get("xframe", True), session, new_csrf_cookie)
            await send(message)

        host = allowed_host(headers, scope, self.allowed_hosts)
        if host is None:
            state["xframe"] = False
            response = django_error_page(Request(scope), 400)
            await response(scope, receive, send_with_headers)
            return
        state["host"] = host
        await self.app(scope, receive, send_with_headers)
