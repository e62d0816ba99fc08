"""DRF's authenticators in the legacy's order: ``TokenAuthentication`` then ``SessionAuthentication``
(with Django's ``get_user`` session verification and the CSRF check for session-authenticated requests).

The token lookup is a read-path query (:mod:`fastapi_app.reads`); the session path, which may write
(a flushed or cycled session), opens an ORM session only when a request falls through to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from shared_db.models import User

from . import crud, queries
from .compat import (
    HASH_SESSION_KEY,
    csrf_failure_reason,
    match_session_hash,
    session_auth_hash,
    session_user_id,
)
from .errors import AuthenticationFailed, PermissionDenied
from .hosts import server_host
from .reads import ReadAhead, Reads, UserLike
from .sessions import SessionState
from .settings import Settings

__all__ = ["Auth", "authenticate"]


@dataclass(frozen=True)
class Auth:
    user: UserLike | None
    via: Literal["token", "session"] | None = None


async def _token_user(reads: Reads, header: str, ahead: ReadAhead | None = None) -> Auth | None:
    parts = header.encode("latin-1").split()
    if not parts or parts[0].lower() != b"token":
        return None
    if len(parts) == 1:
        raise AuthenticationFailed("Invalid token header. No credentials provided.")
    if len(parts) > 2:
        raise AuthenticationFailed("Invalid token header. Token string should not contain spaces.")
    try:
        key = parts[1].decode()
    except UnicodeError:
        raise AuthenticationFailed(
            "Invalid token header. Token string should not contain invalid characters."
        ) from None
    user = await _user_by_token(reads, key, ahead) if crud.storable(key) else None
    if user is None:
        raise AuthenticationFailed("Invalid token.")
    if not user.is_active:
        raise AuthenticationFailed("User inactive or deleted.")
    return Auth(user, "token")


async def _user_by_token(reads: Reads, key: str, ahead: ReadAhead | None) -> UserLike | None:
    """The token's user; with ``ahead``, in the same round trip as the view's read (``ahead.row``)."""
    if ahead is None:
        return await reads.row(queries.user_by_token(), {"key": key})
    user = None
    for row in await reads.rows(ahead.statement, {**ahead.params, "key": key}):
        if row["which"] == queries.TOKEN_USER:
            user = row
        else:
            ahead.row = row
    ahead.done = True
    return user


async def session_user(request: Request, db: AsyncSession, settings: Settings) -> User | None:
    """``django.contrib.auth.get_user`` with ModelBackend: the active user of a verified session, or None."""
    session: SessionState = request.state.session
    data = await session.load(db, settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS)
    user_id = session_user_id(data)
    if user_id is None or not crud.BIGINT_MIN <= user_id <= crud.BIGINT_MAX:
        return None
    user = await db.get(User, user_id)
    if user is None or not user.is_active:  # ModelBackend.get_user -> None; the session is kept
        return None
    verdict = match_session_hash(
        data.get(HASH_SESSION_KEY), user.password, settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS
    )
    if verdict == "fallback":
        await session.cycle_key(
            db, {HASH_SESSION_KEY: session_auth_hash(user.password, settings.SECRET_KEY)}, settings.SECRET_KEY
        )
    elif verdict is None:
        await session.flush(db)  # the password changed (or the hash is forged): log out
        return None
    return user


async def authenticate(
    request: Request,
    settings: Settings,
    on_body_access: Callable[[], None] | None = None,
    ahead: ReadAhead | None = None,
) -> Auth:
    """``request.user`` in DRF: token first (errors are 401), then the session (CSRF failures are 403).
    ``ahead``: the view's next read, made with the token lookup when there is one (:class:`ReadAhead`)."""
    token = await _token_user(request.app.state.reads, request.headers.get("authorization", ""), ahead)
    if token is not None:
        return token
    session: SessionState = request.state.session
    if session.key is None:
        session.accessed = True  # SessionMiddleware saw request.session read, even with no cookie
        return Auth(None)
    async with request.app.state.sessions() as db:
        user = await session_user(request, db, settings)
    if user is None:
        return Auth(None)
    reason = csrf_failure_reason(
        method=request.method,
        is_secure=request.url.scheme == "https",
        headers=request.headers,
        cookies=request.state.cookies,
        allowed_hosts=settings.allowed_hosts,
        host=server_host(request.scope),
        on_body_access=on_body_access,
    )
    if reason is not None:
        raise PermissionDenied(f"CSRF Failed: {reason}")
    return Auth(user, "session")
