"""fastapi_app.routes.ViewRoute: views that take only the request are called without FastAPI's dependency
solving; anything with something to solve keeps FastAPI's handler."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRouter
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from fastapi_app.routes import ViewRoute, auth, check_fallbacks, users


def _route(router: APIRouter, path: str, method: str) -> ViewRoute:
    for route in router.routes:
        if isinstance(route, ViewRoute) and route.path == path and method in route.methods:
            return route
    raise LookupError((path, method))


def _is_plain(route: ViewRoute) -> bool:
    return route.get_route_handler().__qualname__.startswith("ViewRoute.")


def test_the_ports_request_only_views_skip_dependency_solving():
    assert _is_plain(_route(users.router, "/api/users/{pk:drfpk}/", "GET"))
    assert _is_plain(_route(users.router, "/api/users/", "GET"))
    assert _is_plain(_route(auth.router, "/api/auth/token/", "OPTIONS"))
    # The writes take SessionDep (a dependency with cleanup): FastAPI's handler solves it.
    assert not _is_plain(_route(users.router, "/api/users/{pk:drfpk}/", "PATCH"))
    assert not _is_plain(_route(auth.router, "/api/auth/token/", "POST"))


CALLS: list[str] = []


async def dependency() -> str:
    CALLS.append("solved")
    return "dep"


def _app() -> FastAPI:
    router = APIRouter(route_class=ViewRoute)

    @router.get("/plain")
    async def plain(request: Request) -> Response:
        return JSONResponse({"path": request.url.path})

    @router.get("/stacks")
    async def stacks(request: Request) -> Response:
        return JSONResponse(sorted(key for key in request.scope if key.endswith("_astack")))

    @router.get("/stacks-dep")
    async def stacks_dep(request: Request, value: Annotated[str, Depends(dependency)]) -> Response:
        return JSONResponse(sorted(key for key in request.scope if key.endswith("_astack")))

    @router.get("/teapot")
    async def teapot(request: Request) -> Response:
        raise HTTPException(418, "short and stout")

    @router.get("/typed/{n}")
    async def typed(n: int) -> Response:
        return JSONResponse({"n": n})

    @router.get("/dep")
    async def with_dep(value: Annotated[str, Depends(dependency)]) -> Response:
        return JSONResponse({"value": value})

    @router.get("/not-a-response")
    async def not_a_response(request: Request) -> Response:
        return {"oops": True}  # type: ignore[return-value]

    app = FastAPI()
    app.router.routes.extend(router.routes)
    return app


async def test_what_has_something_to_solve_is_still_solved_by_fastapi():
    app = _app()
    CALLS.clear()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/plain")).json() == {"path": "/plain"}
        assert (await client.get("/typed/7")).json() == {"n": 7}
        assert (await client.get("/typed/x")).status_code == 422  # FastAPI's validation, as before
        assert (await client.get("/dep")).json() == {"value": "dep"}
        assert CALLS == ["solved"]
        # A view must return its response (the port's all do): anything else is an error, not JSON.
        assert (await client.get("/not-a-response")).status_code == 500


@pytest.mark.parametrize(("path", "plain"), [("/plain", True), ("/typed/{n}", False), ("/dep", False)])
def test_which_routes_are_called_directly(path, plain):
    route = next(r for r in _app().router.routes if getattr(r, "path", None) == path)
    assert _is_plain(route) is plain


async def test_a_plain_view_runs_without_fastapis_dependency_exit_stacks():
    # FastAPI opens two exit stacks around every call for its dependencies' cleanup; a view with nothing
    # solved runs in Starlette's request cycle without them, and the app's exception handlers still apply.
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/stacks")).json() == ["fastapi_middleware_astack"]
        assert (await client.get("/stacks-dep")).json() == [
            "fastapi_function_astack",
            "fastapi_inner_astack",
            "fastapi_middleware_astack",
        ]
        teapot = await client.get("/teapot")
        assert teapot.status_code == 418 and teapot.json() == {"detail": "short and stout"}


def test_a_view_route_does_not_match_another_method_at_all():
    # Not even partly: the path's method fallback answers it (DRF's 405 after authentication: the port's
    # tests/modern/test_http.py::test_methods_not_allowed_after_authentication), without the path matched
    # here first for the partial match Starlette would report.
    route = next(r for r in _app().router.routes if getattr(r, "path", None) == "/plain")
    scope = {"type": "http", "path": "/plain", "root_path": "", "method": "GET"}
    assert route.matches(scope)[0] is Match.FULL
    assert route.matches({**scope, "method": "POST"}) == (Match.NONE, {})
    assert route.matches({**scope, "path": "/other"})[0] is Match.NONE


def test_a_view_route_without_a_method_fallback_is_refused_at_startup():
    routes = _app().router.routes
    with pytest.raises(RuntimeError, match=r"^/plain \(GET\) has no method_fallback after it$"):
        check_fallbacks(routes)


def test_the_ports_routes_all_have_their_fallbacks():
    check_fallbacks([*users.router.routes, *auth.router.routes, *users.fallbacks, *auth.fallbacks])
    with pytest.raises(RuntimeError, match="/api/auth/token/"):
        check_fallbacks([*users.router.routes, *auth.router.routes, *users.fallbacks])
