"""One router per resource; ``method_fallback`` answers the methods a view does not implement."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..deps import View, authenticated
from ..errors import MethodNotAllowed, NotAuthenticated

__all__ = ["method_fallback"]


class DRFLookupConvertor(Convertor[str]):
    """SimpleRouter's default lookup pattern ``[^/.]+``: ``/api/users/1.5/`` matches no route (HTML 404).

    ``me/`` is excluded: SimpleRouter lists extra actions before the detail route, so Django resolves
    ``/api/users/me/`` to the ``me`` view for every method (``PUT`` there is a 405, not a lookup of "me").
    """

    regex = "(?!me/)[^/.]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("drfpk", DRFLookupConvertor())


class _MethodFallback:
    """An ASGI endpoint (not a function, so that Starlette routes every method to it)."""

    def __init__(self, view: View, requires_login: bool) -> None:
        self.view = view
        self.requires_login = requires_login

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        self.view.negotiate(request)
        auth = await authenticated(request)
        if self.requires_login and auth.user is None:
            raise NotAuthenticated()
        raise MethodNotAllowed(request.method)


def method_fallback(path: str, view: View, *, requires_login: bool) -> Route:
    """A route for every other method on ``path`` (TRACE, PUT on a list, made-up methods...).

    DRF looks the handler up only after ``initial()``: negotiation, authentication and permissions come
    first, so an anonymous request gets 401 where an authenticated one gets 405. These routes also tell
    the ``APPEND_SLASH`` emulation which URLs exist (``responses.slash_redirect_or_404``).
    """
    return Route(path, _MethodFallback(view, requires_login), include_in_schema=False)
