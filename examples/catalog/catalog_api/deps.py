"""Request dependencies: the database session, and a view's ``initial()`` as DRF runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from .authentication import Identity, authenticate
from .errors import APIException, GunicornCrash, NotAuthenticated
from .rendering import negotiate

__all__ = ["SessionDep", "View"]

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000  # Django's default


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class View:
    """One DRF view's fixed answers (its ``Allow`` header) and its ``initial()``.

    ``initial`` is content negotiation, then authentication (simplejwt), then the permission
    ``IsAuthenticatedOrReadOnly``, in that order: a bad Accept header is a 406 before a bad token is a
    401, and a bad token is a 401 even where reading is open to anyone."""

    def __init__(self, allow: str) -> None:
        self.allow = allow

    async def initial(self, request: Request, session: AsyncSession) -> Identity | None:
        query = request.scope["query_string"]
        if 1 + query.count(b"&") > DATA_UPLOAD_MAX_NUMBER_FIELDS:
            # A legacy bug, reproduced: DRF's first look at request.GET raises TooManyFieldsSent (meant as a
            # 400), and Django 4.2's AdminEmailHandler, reporting it, reads request.GET again and raises
            # anew inside the error handling, until gunicorn answers with its own 500 page.
            raise GunicornCrash()
        request.state.allow = self.allow
        request.state.indent = negotiate(request)
        try:
            user = await authenticate(request, session, request.app.state.settings.SECRET_KEY)
        except APIException:
            raise
        except Exception:
            # Django logs the 500, and its AdminEmailHandler's report reads request.user, which DRF had not
            # replaced yet: the session is loaded and SessionMiddleware adds "Vary: Cookie" to the page.
            request.state.vary_cookie = True
            raise
        if user is None and request.method not in SAFE_METHODS:
            raise NotAuthenticated()
        return user
