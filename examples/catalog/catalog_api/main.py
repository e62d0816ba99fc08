"""The FastAPI app: settings, the engine, Django's middleware behaviour and DRF's errors, the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .db import create_engine, session_factory
from .errors import install_handlers
from .middleware import DjangoMiddleware
from .routes import products
from .settings import Settings, get_settings

__all__ = ["app", "create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.sessions = session_factory(engine)
        try:
            yield
        finally:
            await engine.dispose()

    # No /docs or /openapi.json (Django answers those URLs with its 404 page), no slash redirects of
    # Starlette's own (Django's APPEND_SLASH is reproduced instead), no telemetry middleware.
    app = FastAPI(
        title="Catalog API (FastAPI port)",
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    install_handlers(app)
    # The router's routes go into the app's own table (not include_router, which nests them in a router
    # of its own): the APPEND_SLASH check in rendering.py asks the app's routes whether a path is ours.
    app.router.routes.extend(products.router.routes)
    app.add_middleware(DjangoMiddleware, allowed_hosts=settings.allowed_hosts)
    return app


app: FastAPI  # built on first access (below)


def __getattr__(name: str) -> FastAPI:
    # `uvicorn catalog_api.main:app`: built on first access, so importing the package needs no settings.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)
