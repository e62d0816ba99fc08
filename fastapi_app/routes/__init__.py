"""One router per resource; ``method_fallback`` answers the methods a view does not implement; every
route is a :class:`ViewRoute`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, request_response
from starlette.types import Receive, Scope, Send

from ..deps import View, authenticated
from ..errors import MethodNotAllowed, NotAuthenticated

__all__ = ["ViewRoute", "check_fallbacks", "method_fallback"]


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


class ViewRoute(APIRoute):
    """FastAPI's route, calling a view that takes only the request (and returns its response) directly.

    The port's views take the ``Request`` and nothing else FastAPI would fill in (no parameters, no
    dependencies): they do DRF's work themselves, ``initial()`` first (deps.py). For them FastAPI's
    request handler would only solve an empty set of dependencies, which costs CPU on every request
    (measured: docs/performance.md, "The port, four changes"). A view with anything to solve (``SessionDep``,
    a typed parameter, a body) gets FastAPI's own handler, unchanged. Routing, the app's exception
    handlers and the rest of FastAPI's request cycle are FastAPI's either way, but for the two exit stacks
    FastAPI's ``request_response`` opens around every call for its dependencies' cleanup: a view with
    nothing solved has nothing to clean up, so it runs in Starlette's ``request_response`` (FastAPI's is a
    copy of it with those stacks added), unless the route has a body size limit of its own."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if _takes_only_the_request(self) and self.max_body_size is None:
            self.app = request_response(self.get_route_handler())

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # A request with another method is never this route's: Starlette would match the path only to
        # report a partial match, which its router uses for a 405 when no route matches whole. Every path
        # of the port has a method fallback after its routes that matches whole (``method_fallback``;
        # ``check_fallbacks`` proves it at startup), so the path is not matched here for nothing.
        if scope["type"] == "http" and self.methods is not None and scope["method"] not in self.methods:
            return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if not _takes_only_the_request(self):
            return super().get_route_handler()
        view = self.endpoint

        async def handle(request: Request) -> Response:
            response = await view(request)
            if not isinstance(response, Response):  # a view returns its response, as DRF's do
                raise TypeError(f"{view.__qualname__} returned {type(response).__name__}, not a Response")
            return response

        return handle


def _takes_only_the_request(route: APIRoute) -> bool:
    d = route.dependant
    solved = (d.path_params, d.query_params, d.header_params, d.cookie_params, d.body_params, d.dependencies)
    others = (
        d.websocket_param_name,
        d.http_connection_param_name,
        d.response_param_name,
        d.background_tasks_param_name,
        d.security_scopes_param_name,
    )
    return (
        d.request_param_name is not None
        and not any(solved)
        and all(name is None for name in others)
        and route.body_field is None
        and inspect.iscoroutinefunction(route.endpoint)
    )


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


def check_fallbacks(routes: list[BaseRoute]) -> None:
    """Every :class:`ViewRoute`'s path has a method fallback after it (``ViewRoute.matches`` relies on it:
    without one, another method on the path would get a 404 instead of DRF's 405)."""
    for index, route in enumerate(routes):
        if isinstance(route, ViewRoute) and not any(
            isinstance(later, Route)
            and isinstance(later.endpoint, _MethodFallback)
            and later.path == route.path
            for later in routes[index + 1 :]
        ):
            raise RuntimeError(
                f"{route.path} ({', '.join(sorted(route.methods or ()))}) has no method_fallback after it"
            )
