"""The FastAPI app: settings, engine, DRF/Django-compatible error handling and middleware, the routers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from .compat.password_validation import common_passwords
from .db import create_engine, session_factory
from .errors import install_handlers
from .middleware import LegacyMiddleware
from .reads import Reads
from .routes import auth, check_fallbacks, users
from .settings import Settings, get_settings

__all__ = ["app", "create_app"]

# Allocations between two collections of the young generation (CPython's default: 700); measured in
# docs/performance.md.
GC_YOUNG_THRESHOLD = 10_000

NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: the environment, as Django reads it)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.reads = await Reads.open(settings)
        # Load the common-password list (a gzip file) now and off the loop, not inside the first sign-up.
        await anyio.to_thread.run_sync(common_passwords)
        # What startup made (the frameworks, the models, the password list: ~90,000 objects) lives as
        # long as the worker: out of the collector's sight, a full collection no longer walks it on the
        # way to a request's garbage; and the young generation, where a request's garbage is, is
        # collected every GC_YOUNG_THRESHOLD allocations instead of 700 (docs/performance.md, "Garbage
        # collection"). Both undone at shutdown.
        thresholds = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD)
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            await app.state.reads.close()
            await engine.dispose()

    # No /docs or /openapi.json: the legacy answers those URLs with its 404 page (see migration_notes).
    app = FastAPI(
        title="Users API (FastAPI port)",
        version="1.0.0",
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=None if settings.OTEL_ENABLED else NO_TELEMETRY,
    )
    app.state.settings = settings
    install_handlers(app)
    # The routers' routes go into the app's own route table rather than through include_router: FastAPI
    # matches an included router through an extra layer on every request (measured: tens of microseconds
    # per request, see docs/performance.md). The fallbacks come after the typed routes: the other methods
    # on the same paths (405 after authentication, as DRF).
    app.router.routes.extend([*users.router.routes, *auth.router.routes, *users.fallbacks, *auth.fallbacks])
    check_fallbacks(app.router.routes)
    app.add_middleware(
        LegacyMiddleware,
        allowed_hosts=settings.allowed_hosts,
        forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS,
    )
    return app


app: FastAPI  # created on first access (below), so that importing the package needs no settings


def __getattr__(name: str) -> FastAPI:
    # ``uvicorn fastapi_app.main:app``: built on first access, so importing the package needs no settings.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)
