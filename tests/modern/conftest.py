"""Fixtures for the FastAPI app: its engine points at pytest-django's test database (committed data, so
tests that read what Django wrote use ``django_db(transaction=True)``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx
import pytest
from django.db import connections

from cutover.dburl import DatabaseURL
from fastapi_app.main import create_app
from fastapi_app.settings import Settings

T = TypeVar("T")


async def orm(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run Django ORM code from an async test: in a worker thread, whose connection is closed after."""

    def run() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return await asyncio.to_thread(run)


@pytest.fixture
def modern_settings(settings) -> Settings:
    """The FastAPI settings for the Django test database and Django's secret."""
    url = DatabaseURL.parse(os.environ["DATABASE_URL"]).with_name(settings.DATABASES["default"]["NAME"])
    return Settings(
        DATABASE_URL=url.libpq(),
        SECRET_KEY=settings.SECRET_KEY,
        SECRET_KEY_FALLBACKS=list(settings.SECRET_KEY_FALLBACKS),
    )


@pytest.fixture
async def modern_app(transactional_db, modern_settings):
    """The app with its lifespan running (engine created, disposed at teardown before Django flushes)."""
    app = create_app(modern_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def modern(modern_app) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the FastAPI app, addressed as Django's test client is (``testserver``)."""
    transport = httpx.ASGITransport(app=modern_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def auth_header(token_for):
    """``await auth_header(user)``: DRF token credentials for ``user`` (the token made by Django)."""

    async def header(user) -> dict[str, str]:
        return {"Authorization": f"Token {await orm(token_for, user)}"}

    return header


@pytest.fixture
def django_session():
    """The ``sessionid`` of a real Django login of ``user``."""
    from django.test import Client

    def login(user) -> str:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    return login
