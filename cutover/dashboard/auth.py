"""Who may move routes from the dashboard: the holder of its access token, through a session, with a CSRF
token on every form.

- The access token is made when the dashboard starts (``secrets.token_urlsafe``) and printed once, in
  `cutover dashboard`'s banner. It is never logged, never put in a page, and never recorded in the audit
  log (the actor there is the user name and the client's address).
- A session is opened by posting the token to ``/login`` (or by a link with ``?token=`` once, which is
  redirected away at once so the token leaves the address bar and the history). Its id is a random value
  in an HttpOnly, SameSite=Strict cookie; sessions live in memory, until the dashboard stops.
- Every state-changing request needs a session and that session's CSRF token (a hidden form field,
  compared in constant time), and, when the browser says where it comes from (``Origin``, else
  ``Referer``), to come from the dashboard itself.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request

COOKIE = "cutover_dashboard"
MAX_SESSIONS = 1000  # the oldest is closed beyond it: a token holder cannot grow the dashboard unbounded


@dataclass
class Session:
    id: str
    csrf: str
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (level, message), shown once

    def flash(self, level: str, message: str) -> None:
        self.flashes.append((level, message))

    def take_flashes(self) -> list[tuple[str, str]]:
        out, self.flashes = self.flashes, []
        return out


def same(given: str | None, expected: str) -> bool:
    """``given == expected``, in time independent of where they differ."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Auth:
    """The access token and the sessions opened with it."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # the token stays out of tracebacks and debug output
        return f"<Auth: {len(self._sessions)} session(s)>"

    def valid_token(self, given: str | None) -> bool:
        return same(given, self.token)

    def open_session(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        with self._lock:
            while len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[session.id] = session
        return session

    def session(self, request: Request) -> Session | None:
        """The request's session, from its cookie; None without a valid one."""
        sid = request.cookies.get(COOKIE)
        if not sid:
            return None
        with self._lock:
            found = self._sessions.get(sid)
        # The dict lookup found it by equality already; the digest compare keeps the timing flat anyway.
        return found if found is not None and same(sid, found.id) else None

    def close_session(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)


def valid_csrf(session: Session, given: str | None) -> bool:
    return same(given, session.csrf)


def same_origin(request: Request) -> bool:
    """Whether the browser says the request comes from the dashboard's own pages.

    ``Origin`` (sent by browsers on every POST), else ``Referer``; a request carrying neither (a script)
    is left to the CSRF token, which it must still have."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    host = request.headers.get("host", "")
    return origin == f"{request.url.scheme}://{host}"


__all__ = ["COOKIE", "Auth", "Session", "same", "same_origin", "valid_csrf"]
