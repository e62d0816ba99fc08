"""The dashboard's web app: Starlette, server-rendered Jinja2 templates, and static files shipped in the
package (uPlot and a little JavaScript of ours that refreshes the figures and charts from JSON).

Pages: ``/`` (every route, the latest moves), ``/routes/{id}`` (one route's charts, parity mismatches,
shadow differences and history), ``/audit`` (every recorded move). JSON: ``/api/routes``, ``/api/series``.
Actions: ``POST /routes/{id}/move`` (canary with a percentage, modern, rollback), which runs
:func:`cutover.proxy.moves.move`, the CLI's own move, gate and audit entry included.

Everything that blocks (files, git, databases, the move) runs in a worker thread; the event loop only
renders and answers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..audit import current_user
from ..errors import CutoverError
from ..proxy.doors import kind_of
from ..proxy.gate import MoveRefused
from ..proxy.moves import Actor, MoveOutcome, describe, move
from . import data
from .auth import COOKIE, Auth, Session, same_origin, valid_csrf
from .data import Sources, UnknownRoute
from .traffic import Traffic

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
# The page's buttons and the mode each moves to; canary takes a percentage.
ACTIONS = {"canary": "canary", "modern": "modern", "rollback": "legacy"}
SIGN_IN = "sign in with the access token that `cutover dashboard` printed when it started"
_WILDCARDS = ("", "0.0.0.0", "::")
_HEADERS = {
    # Our own files only: no inline script or style, no framing, forms post to the dashboard only.
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str) -> list[str]:
    """The Host headers answered: the address listened on and loopback's names (a page of another site
    resolving its name to 127.0.0.1 is refused: DNS rebinding); any, on a wildcard address."""
    if host in _WILDCARDS:
        return ["*"]
    return sorted({host, "127.0.0.1", "localhost"})


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in _HEADERS.items() if k.encode() not in names]
                if b"cache-control" not in names and not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True)
class Settings:
    refresh: float = 5.0  # seconds between the page's refreshes
    history: float = 3600.0  # seconds of traffic the charts show
    open_viewing: bool = True  # pages viewable without a session (loopback); moves always need one
    poll: float = 1.0  # seconds between reads of the access log


class Dashboard:
    """The app's state and handlers."""

    def __init__(self, sources: Sources, auth: Auth, settings: Settings) -> None:
        self.sources = sources
        self.auth = auth
        self.settings = settings
        self.traffic: Traffic | None = None
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        env = self.templates.env
        env.filters["when"] = _when
        env.filters["ms"] = data.milliseconds
        env.globals["describe"] = describe

    # -- lifespan ---------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        door = self.sources.door
        self.traffic = await run_in_threadpool(
            Traffic, door.access_log, kind_of(door), history=self.settings.history
        )
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._follow)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            traffic, self.traffic = self.traffic, None
            await run_in_threadpool(traffic.close)

    async def _follow(self) -> None:
        while True:
            if self.traffic is not None:
                await run_in_threadpool(self.traffic.poll)
            await anyio.sleep(self.settings.poll)

    # -- rendering --------------------------------------------------------------------------------------

    def page(
        self, request: Request, template: str, context: Mapping[str, Any], *, status_code: int = 200,
        session: Session | None = None,
    ) -> Response:  # fmt: skip
        session = session or self.auth.session(request)
        full = {
            "signed_in": session is not None,
            "csrf": session.csrf if session is not None else "",
            "flashes": session.take_flashes() if session is not None else [],
            "refresh": self.settings.refresh,
            "history": self.settings.history,
            # Where a form on this page comes back to (a refused POST's page: the routes).
            "here": request.url.path if request.method == "GET" else "/",
            **context,
        }
        return self.templates.TemplateResponse(request, template, full, status_code=status_code)

    def problem(self, request: Request, status_code: int, title: str, message: str) -> Response:
        context = {"title": title, "message": message, "status_code": status_code}
        return self.page(request, "error.html", context, status_code=status_code)

    async def viewing(self, request: Request) -> Response | None:
        """A redirect or a refusal when this request may not see the page; None when it may."""
        if "token" in request.query_params:
            return self._sign_in_from_link(request)
        if self.settings.open_viewing or self.auth.session(request) is not None:
            return None
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": f"refused: {SIGN_IN}"}, status_code=403)
        return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)

    def _sign_in_from_link(self, request: Request) -> Response:
        if not self.auth.valid_token(request.query_params.get("token")):
            return self.problem(request, 403, "Refused", f"wrong access token: {SIGN_IN}")
        # The same address without the token: out of the address bar, the history and any Referer.
        query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
        self._set_cookie(response, self.auth.open_session())
        return response

    @staticmethod
    def _set_cookie(response: Response, session: Session) -> None:
        response.set_cookie(COOKIE, session.id, httponly=True, samesite="strict", path="/")

    # -- pages ------------------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        if (refusal := await self.viewing(request)) is not None:
            return refusal
        found = await run_in_threadpool(data.overview, self.sources, self.traffic)
        return self.page(request, "index.html", {"overview": found, "door": found.door})

    async def route(self, request: Request) -> Response:
        if (refusal := await self.viewing(request)) is not None:
            return refusal
        route_id = request.path_params["route_id"]
        try:
            found = await run_in_threadpool(data.route_page, self.sources, self.traffic, route_id)
        except UnknownRoute as exc:
            return self.problem(request, 404, "No such route", str(exc))
        except CutoverError as exc:
            return self.problem(request, 503, "The manifest cannot be read", str(exc))
        return self.page(
            request, "route.html", {"found": found, "route": found.row.route, "door": found.door}
        )

    async def audit(self, request: Request) -> Response:
        if (refusal := await self.viewing(request)) is not None:
            return refusal
        entries, problems = await run_in_threadpool(data.audit_entries, self.sources)
        return self.page(request, "audit.html", {"entries": entries, "problems": problems})

    async def api_routes(self, request: Request) -> Response:
        if (refusal := await self.viewing(request)) is not None:
            return refusal
        found = await run_in_threadpool(data.overview, self.sources, self.traffic)
        return JSONResponse(found.as_dict())

    async def api_series(self, request: Request) -> Response:
        if (refusal := await self.viewing(request)) is not None:
            return refusal
        wanted = request.query_params.get("route")
        traffic = self.traffic
        now = time.time()

        def charts() -> dict[str, Any]:
            try:
                ids = data.route_ids(self.sources)
            except CutoverError:
                ids = ()
            if traffic is None:
                return {}
            traffic.poll()
            return {r: traffic.chart(r, now).as_dict() for r in ids if wanted is None or r == wanted}

        routes = await run_in_threadpool(charts)
        return JSONResponse({"now": now, "history": self.settings.history, "routes": routes})

    # -- sessions ---------------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        target = _local_path(request.query_params.get("next"))
        if request.method == "GET":
            return self.page(request, "login.html", {"next": target})
        form = await request.form()
        target = _local_path(_text(form, "next"))
        if not same_origin(request):
            return self.problem(
                request, 403, "Refused", "refused: the request did not come from this dashboard"
            )
        if not self.auth.valid_token(_text(form, "token")):
            context = {"next": target, "error": f"wrong access token: {SIGN_IN}"}
            return self.page(request, "login.html", context, status_code=403)
        session = self.auth.open_session()
        session.flash("info", "signed in: the actions are yours to use")
        response = RedirectResponse(target, status_code=303)
        self._set_cookie(response, session)
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        session = self.auth.session(request)
        if session is None or not same_origin(request) or not valid_csrf(session, _text(form, "csrf")):
            return self.problem(
                request, 403, "Refused", "refused: not signed out (reload the page and try again)"
            )
        self.auth.close_session(session)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- actions ----------------------------------------------------------------------------------------

    async def move(self, request: Request) -> Response:
        route_id = request.path_params["route_id"]
        form = await request.form()
        session = self.auth.session(request)
        nothing = "refused: nothing was moved;"
        if session is None:
            return self.problem(request, 403, "Refused", f"{nothing} {SIGN_IN}")
        if not same_origin(request):
            why = "the request did not come from this dashboard's own page"
            return self.problem(request, 403, "Refused", f"{nothing} {why}")
        if not valid_csrf(session, _text(form, "csrf")):
            why = "the form's CSRF token is missing or out of date (reload the page)"
            return self.problem(request, 403, "Refused", f"{nothing} {why}")
        action = _text(form, "action") or ""
        if action not in ACTIONS:
            why = f"the action must be one of {', '.join(ACTIONS)} (got {action!r})"
            return self.problem(request, 400, "Bad request", f"{why}; nothing was moved")
        percent: int | None = None
        if action == "canary":
            given = (_text(form, "percent") or "").strip()
            if not (given.isascii() and given.isdigit()):
                why = f"a canary's percentage must be a whole number from 1 to 99 (got {given!r})"
                return self.problem(request, 400, "Bad request", f"{why}; nothing was moved")
            percent = int(given)
        try:
            known = await run_in_threadpool(data.route_ids, self.sources)
        except CutoverError as exc:
            return self.problem(request, 503, "The manifest cannot be read", f"{exc}; nothing was moved")
        if route_id not in known:
            why = f"no route {route_id!r} in {self.sources.manifest} (routes: {', '.join(known) or 'none'})"
            return self.problem(request, 404, "No such route", why)
        client = request.client.host if request.client else "unknown"
        actor = Actor(f"{current_user()} from {client}", "dashboard")
        try:
            outcome = await run_in_threadpool(self._move, route_id, ACTIONS[action], percent, actor)
        except MoveRefused as exc:
            session.flash("refused", f"{route_id}: refused: {exc}")
        except CutoverError as exc:
            session.flash("error", f"{route_id}: failed: {exc}")
        else:
            for line in (*outcome.readings, *outcome.warnings):
                session.flash("info", f"{route_id}: gate: {line}")
            session.flash("moved" if outcome.changed else "info", _moved_text(route_id, outcome))
        return RedirectResponse(_local_path(_text(form, "next")), status_code=303)

    def _move(self, route_id: str, mode: str, percent: int | None, actor: Actor) -> MoveOutcome:
        sources = self.sources
        gated = mode != "legacy"  # a rollback is never gated
        return move(
            route_id, mode, percent, manifest=sources.manifest, door=sources.door, actor=actor,
            audit_url=sources.audit_url, project=sources.project,
            report=sources.report if gated else None, repo=sources.repo if gated else None,
        )  # fmt: skip


def _moved_text(route_id: str, outcome: MoveOutcome) -> str:
    if not outcome.changed:
        return outcome.unchanged_text(route_id)
    applied = {
        "live": f"switched live on {outcome.front_door}",
        "reloaded": f"{outcome.front_door} reloaded",
        "not running": f"{outcome.front_door} not running: applies at its next start",
    }.get(outcome.applied, outcome.applied)
    return f"{route_id}: {describe(outcome.before)} -> {describe(outcome.after)} ({applied})"


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _local_path(target: str | None) -> str:
    """Where to go after a form: a path of this dashboard only (never ``//elsewhere`` nor a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def _handler(dash: Dashboard) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 404:
            return dash.problem(request, 404, "Not found", f"nothing at {request.url.path}")
        if isinstance(exc, HTTPException):
            return dash.problem(request, exc.status_code, "Refused", str(exc.detail))
        return dash.problem(request, 500, "The dashboard failed", f"{type(exc).__name__} (see its output)")

    return handle


def create_app(
    sources: Sources, *, auth: Auth | None = None, host: str = "127.0.0.1", refresh: float = 5.0,
    history: float = 3600.0, poll: float = 1.0,
) -> Starlette:  # fmt: skip
    """The dashboard for ``sources``, to be served on ``host`` (which decides who may view, and the Host
    headers answered); ``auth`` holds the access token (a new one by default)."""
    dash = Dashboard(
        sources,
        auth or Auth(),
        Settings(refresh=refresh, history=history, open_viewing=is_loopback(host), poll=poll),
    )
    handle = _handler(dash)
    app = Starlette(
        routes=[
            Route("/", dash.index),
            Route("/audit", dash.audit),
            Route("/routes/{route_id}", dash.route),
            Route("/routes/{route_id}/move", dash.move, methods=["POST"]),
            Route("/login", dash.login, methods=["GET", "POST"]),
            Route("/logout", dash.logout, methods=["POST"]),
            Route("/api/routes", dash.api_routes),
            Route("/api/series", dash.api_series),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ],
        middleware=[
            Middleware(_SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host)),
        ],
        exception_handlers={HTTPException: handle, Exception: handle},
        lifespan=dash.lifespan,
    )
    app.state.dashboard = dash
    return app


__all__ = ["ACTIONS", "Dashboard", "allowed_hosts", "create_app", "is_loopback"]
