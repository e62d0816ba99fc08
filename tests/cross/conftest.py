"""Both apps on one database: Django through its test client, FastAPI through Starlette's TestClient (the
app runs in its own thread and event loop), so one synchronous test can drive both in turn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret
from django.test import Client

from fastapi_app.main import create_app
from tests.cross.live import LiveServers, live_servers
from tests.cross.testclient import TestClient
from tests.modern.conftest import modern_settings  # noqa: F401 - shared fixture


@pytest.fixture
def modern_client(transactional_db, modern_settings) -> Iterator[TestClient]:  # noqa: F811
    app = create_app(modern_settings)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


@pytest.fixture
def legacy_client() -> Client:
    # As a browser meets it: Django's test client skips CSRF checks unless told otherwise.
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def django_session_cookie():
    """A ``sessionid`` from a real Django login of ``user``."""

    def login(user) -> str:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    return login


@pytest.fixture
def csrf_pair():
    """A CSRF secret (the ``csrftoken`` cookie) and a masked token for ``X-CSRFToken``, made by Django."""
    secret = _get_new_csrf_string()
    return secret, _mask_cipher_secret(secret)


@pytest.fixture(scope="session")
def live(django_db_setup, django_db_blocker) -> Iterator[LiveServers]:
    """Django under gunicorn and the port under uvicorn on this run's test database (see ``live.py``)."""
    with django_db_blocker.unblock(), live_servers() as servers:
        yield servers
