"""The request's Django session, as ``SessionMiddleware`` sees it: loaded lazily (only when authentication
falls through to the session), flushed when the password changed, cycled when only a fallback secret still
verifies it, and the cookie deleted / ``Vary: Cookie`` added exactly when Django's middleware would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared_db.models import Session

from .compat import SESSION_COOKIE_NAME, decode_session, encode_session, new_session_key

__all__ = ["SESSION_COOKIE_AGE", "SessionState"]

SESSION_COOKIE_AGE = 1209600  # Django's default: two weeks
_DELETED = "expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax"


@dataclass
class SessionState:
    """What Django's ``SessionStore`` would know about this request's session by the end of it."""

    cookie_present: bool
    key: str | None  # Django keeps only keys of 8 characters or more
    accessed: bool = False
    loaded: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    new_cookie_key: str | None = None  # set when the key was cycled

    @classmethod
    def from_cookies(cls, cookies: dict[str, str]) -> SessionState:
        raw = cookies.get(SESSION_COOKIE_NAME)
        return cls(cookie_present=raw is not None, key=raw if raw and len(raw) >= 8 else None)

    def is_empty(self) -> bool:
        return self.key is None

    async def load(self, db: AsyncSession, secret_key: str, fallbacks: list[str]) -> dict[str, Any]:
        """``SessionStore.load()``: the decoded data of an unexpired row, ``{}`` otherwise."""
        self.accessed = True
        if self.loaded:
            return self.data
        self.loaded = True
        if self.key is None:
            return self.data
        row = await db.scalar(
            select(Session.session_data).where(
                Session.session_key == self.key, Session.expire_date > datetime.now(UTC)
            )
        )
        if row is None:
            self.key = None  # Django forgets the key of a missing or expired session
            return self.data
        self.data = decode_session(row, secret_key, fallbacks) or {}
        return self.data

    async def flush(self, db: AsyncSession) -> None:
        """``session.flush()``: delete the row; the response then deletes the cookie."""
        if self.key is not None:
            from .crud import delete_session

            await delete_session(db, self.key)
            await db.commit()
        self.key, self.data = None, {}

    async def cycle_key(self, db: AsyncSession, updates: dict[str, Any], secret_key: str) -> None:
        """``session.cycle_key()`` then ``session[k] = v``: the data under a new key, saved with a fresh
        expiry (``SESSION_COOKIE_AGE``) as ``SessionMiddleware`` saves a modified session."""
        from .crud import delete_session, insert_session

        old = self.key
        self.data = {**self.data, **updates}
        encoded = encode_session(self.data, secret_key)
        expire = datetime.now(UTC) + timedelta(seconds=SESSION_COOKIE_AGE)
        self.key = new_session_key()
        while not await insert_session(db, self.key, encoded, expire):
            self.key = new_session_key()  # taken: SessionStore.create tries another key
        if old is not None:
            await delete_session(db, old)
        await db.commit()
        self.new_cookie_key = self.key

    def response_headers(self) -> list[tuple[str, str]]:
        """The ``Set-Cookie``/``Vary`` headers ``SessionMiddleware.process_response`` adds."""
        if self.cookie_present and self.is_empty():
            return [
                ("set-cookie", f'{SESSION_COOKIE_NAME}=""; {_DELETED}'),
                ("vary", "Cookie"),
            ]
        headers: list[tuple[str, str]] = []
        if self.accessed:
            headers.append(("vary", "Cookie"))
        if self.new_cookie_key is not None:
            expires = formatdate(datetime.now(UTC).timestamp() + SESSION_COOKIE_AGE, usegmt=True)
            headers.append(
                (
                    "set-cookie",
                    f"{SESSION_COOKIE_NAME}={self.new_cookie_key}; expires={expires}; HttpOnly; "
                    f"Max-Age={SESSION_COOKIE_AGE}; Path=/; SameSite=Lax",
                )
            )
        return headers
