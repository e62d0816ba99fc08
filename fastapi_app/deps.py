"""Request dependencies, in the order DRF's ``APIView.initial`` runs them: the view's declaration and content
negotiation, then authentication, then the permission check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared_db.models import User

from .authentication import Auth, authenticate
from .errors import NotAuthenticated
from .negotiation import JSON, Negotiated, select_renderer
from .parsing import parse_body, read_body
from .settings import Settings

__all__ = [
    "Authenticated",
    "CurrentUser",
    "OptionalUser",
    "SessionDep",
    "SettingsDep",
    "View",
    "request_data",
]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


class View:
    """A DRF view's class attributes for one URL: its ``Allow`` header and parsers. As a dependency it runs
    content negotiation (406, or 404 for an unknown ``?format=``) before anything else."""

    def __init__(self, allow: str, parsers: tuple[str, ...] = (JSON,)) -> None:
        self.allow = allow
        self.parsers = parsers

    async def __call__(self, request: Request) -> Negotiated:
        request.state.allow = self.allow
        request.state.parsers = self.parsers
        negotiated = select_renderer(request.headers.get("accept"), request.query_params.get("format"))
        request.state.negotiated = negotiated
        return negotiated


async def request_data(request: Request) -> Any:
    """``request.data``, parsed once (the CSRF check may have parsed it already)."""
    if not hasattr(request.state, "data"):
        body = await read_body(request)
        request.state.data = parse_body(body, request.headers.get("content-type"), request.state.parsers)
    return request.state.data


async def authenticated(request: Request, db: SessionDep, settings: SettingsDep) -> Auth:
    """DRF's ``perform_authentication`` (for every view, even those allowing anyone)."""
    body: bytes | Exception = b""
    if request.method == "POST":
        # Django's CSRF check reads request.POST (DRF parses the body there); have the bytes ready.
        try:
            body = await read_body(request)
        except Exception as exc:  # raised where Django would raise it, below
            body = exc

    def on_body_access() -> None:
        if isinstance(body, Exception):
            raise body
        if not hasattr(request.state, "data"):
            request.state.data = parse_body(body, request.headers.get("content-type"), request.state.parsers)

    return await authenticate(request, db, settings, on_body_access)


Authenticated = Annotated[Auth, Depends(authenticated)]


async def current_user(auth: Authenticated) -> User:
    """``IsAuthenticated``: anonymous requests get 401 ``NotAuthenticated`` (``WWW-Authenticate: Token``)."""
    if auth.user is None:
        raise NotAuthenticated()
    return auth.user


async def optional_user(auth: Authenticated) -> User | None:
    """``AllowAny`` after authentication ran (a bad token is still a 401, a CSRF failure still a 403)."""
    return auth.user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
