"""Request dependencies. A view's :meth:`View.user` / :meth:`View.any_user` is DRF's ``APIView.initial``:
the view's declaration and content negotiation, then authentication, then the permission check, in that
order. Each endpoint awaits it as its first statement, as a DRF view runs ``initial()`` before its handler.

It is not a FastAPI ``Depends``: solving a dependency costs CPU on every request (classifying the callable,
its cache key, the scope checks), measured at about a tenth of the port's in-process CPU on
``GET /api/users/{id}/`` (see docs/performance.md). ``SessionDep`` stays a dependency: it has cleanup to do
and only the write endpoints take it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from .authentication import Auth, authenticate
from .errors import NotAuthenticated
from .negotiation import JSON, Negotiated, select_renderer
from .parsing import parse_body, read_body
from .reads import ReadAhead, Reads, UserLike

__all__ = ["SessionDep", "View", "authenticated", "query_params", "read_pool", "request_data"]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


_NO_PARAMS = QueryParams()


def query_params(request: Request) -> QueryParams:
    """``request.query_params``, without parsing an empty query string (most API requests send none)."""
    return request.query_params if request.scope.get("query_string") else _NO_PARAMS


def read_pool(request: Request) -> Reads:
    """The worker's read pool (:mod:`fastapi_app.reads`)."""
    return request.app.state.reads  # type: ignore[no-any-return]


class View:
    """A DRF view's class attributes for one URL: its ``Allow`` header and parsers.

    :meth:`user` (``IsAuthenticated``) and :meth:`any_user` (``AllowAny``) are ``initial()``, awaited first;
    :meth:`negotiate` runs content negotiation (406, or 404 for an unknown ``?format=``) before anything
    else."""

    def __init__(self, allow: str, parsers: tuple[str, ...] = (JSON,)) -> None:
        self.allow = allow
        self.parsers = parsers

    def negotiate(self, request: Request) -> Negotiated:
        request.state.allow = self.allow
        request.state.parsers = self.parsers
        negotiated = select_renderer(request.headers.get("accept"), query_params(request).get("format"))
        request.state.negotiated = negotiated
        return negotiated

    async def user(self, request: Request, ahead: ReadAhead | None = None) -> UserLike:
        """``IsAuthenticated``: anonymous requests get 401 (``WWW-Authenticate: Token``). ``ahead``: the
        view's next read, made in the token lookup's round trip (:class:`~fastapi_app.reads.ReadAhead`)."""
        self.negotiate(request)
        auth = await authenticated(request, ahead)
        if auth.user is None:
            raise NotAuthenticated()
        return auth.user

    async def any_user(self, request: Request) -> UserLike | None:
        """``AllowAny`` after authentication ran (a bad token is still a 401, a CSRF failure still a 403)."""
        self.negotiate(request)
        return (await authenticated(request)).user


async def request_data(request: Request) -> Any:
    """``request.data``, parsed once (the CSRF check may have parsed it already)."""
    if not hasattr(request.state, "data"):
        body = await read_body(request, request.state.parsers)
        request.state.data = parse_body(body, request.headers.get("content-type"), request.state.parsers)
    return request.state.data


async def authenticated(request: Request, ahead: ReadAhead | None = None) -> Auth:
    """DRF's ``perform_authentication`` (for every view, even those allowing anyone)."""
    body: bytes | Exception = b""
    if request.method == "POST":
        # Django's CSRF check reads request.POST (DRF parses the body there); have the bytes ready.
        try:
            body = await read_body(request, request.state.parsers)
        except Exception as exc:  # raised where Django would raise it, below
            body = exc

    def on_body_access() -> None:
        if isinstance(body, Exception):
            raise body
        if not hasattr(request.state, "data"):
            request.state.data = parse_body(body, request.headers.get("content-type"), request.state.parsers)

    return await authenticate(request, request.app.state.settings, on_body_access, ahead)
