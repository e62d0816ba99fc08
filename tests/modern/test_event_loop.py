"""Nothing in fastapi_app/ blocks the event loop.

asyncio's debug mode times every callback the loop runs; one that holds the loop longer than
``slow_callback_duration`` is logged as "Executing <Task ...> took N seconds". The app serves a
representative session (sign-up and login hash passwords, lists, writes, session auth) while that log is
captured, and the detector itself is first shown to catch a deliberately blocking route.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import httpx
import pytest
from rest_framework.authtoken.models import Token

from tests.conftest import FIXTURE_PASSWORD
from tests.modern.conftest import orm

pytestmark = pytest.mark.django_db(transaction=True)

# Far above what a non-blocking handler step costs, far below a blocking call (PBKDF2 at 10^6 iterations
# takes ~0.5 s, a synchronous query or HTTP call tens of milliseconds and up).
THRESHOLD = 0.1


class SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing ") and " took " in message:
            self.messages.append(message)


async def watched(requests):
    """Run ``requests()`` with the loop in debug mode; return the slow-callback warnings."""
    loop = asyncio.get_running_loop()
    handler = SlowCallbacks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    previous = (loop.get_debug(), loop.slow_callback_duration)
    loop.set_debug(True)
    loop.slow_callback_duration = THRESHOLD
    try:
        # A task of its own, started after debug mode is on: each of its steps is timed by the loop.
        await asyncio.create_task(requests())
    finally:
        loop.set_debug(previous[0])
        loop.slow_callback_duration = previous[1]
        logger.removeHandler(handler)
    return handler.messages


# Where the timed task was: the line it awaits at, or (a task that finished) its function.
_WHERE = re.compile(r"(?:running|defined) at (\S+?:\d+)")


async def reproducible(first, second) -> set[str]:
    """Requests (``file:line`` of the awaiting test code) slow in two runs of the same scenario.

    A blocking call stalls the loop on every run, at the same request; the machine being busy (other
    processes on a shared CPU) stalls it at random. Only a stall that happens again counts.
    """
    slow = {m for message in await watched(first) for m in _WHERE.findall(message)}
    if not slow:
        return set()
    again = {m for message in await watched(second) for m in _WHERE.findall(message)}
    return slow & again


@pytest.fixture
async def app_client(modern_app):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=modern_app), base_url="http://testserver"
    ) as c:
        yield modern_app, c


async def test_the_detector_catches_a_blocking_route(app_client):
    app, client = app_client

    @app.get("/blocking-for-the-test/")
    async def blocking() -> dict[str, str]:
        time.sleep(THRESHOLD * 3)  # noqa: ASYNC251 - the mistake the test must catch
        return {}

    async def requests() -> None:
        assert (await client.get("/blocking-for-the-test/")).status_code == 200

    assert await reproducible(requests, requests), "a 0.3 s blocking call went unnoticed"


@pytest.fixture
def people(make_user, django_session):
    alice = make_user(username="alice", email="alice@example.com")
    for n in range(25):
        make_user(username=f"member{n:02d}", email=f"m{n}@example.com")
    return {"alice": alice, "token": Token.objects.create(user=alice).key, "session": django_session(alice)}


async def test_no_route_blocks_the_loop(app_client, people):
    _, client = app_client
    auth = {"Authorization": f"Token {people['token']}"}

    async def session(n: int) -> None:
        name, password = f"newcomer{n}", "a-long-unusual-passphrase-42"
        signup = {"username": name, "email": f"{name}@example.com", "password": password}
        created = await client.post("/api/users/", json=signup)  # hashes a password
        assert created.status_code == 201
        own = {
            "Authorization": f"Token {(await client.post('/api/auth/token/', data=signup)).json()['token']}"
        }
        bad = {"username": "nobody", "password": FIXTURE_PASSWORD}
        assert (await client.post("/api/auth/token/", json=bad)).status_code == 400  # hashes for timing
        assert (
            await client.get("/api/users/?search=member&page=2&page_size=5", headers=auth)
        ).status_code == 200
        pk = created.json()["id"]
        changed = await client.patch(
            f"/api/users/{pk}/", json={"password": "another-fine-pass-77"}, headers=own
        )
        assert changed.status_code == 200
        assert (await client.options(f"/api/users/{pk}/", headers=own)).status_code == 200
        assert (await client.get("/api/users", headers=own)).status_code == 301
        assert (await client.put("/api/users/", headers=own)).status_code == 405
        assert (await client.delete(f"/api/users/{pk}/", headers=own)).status_code == 204

    cookie = {"Cookie": f"sessionid={people['session']}"}
    assert (await client.get("/api/users/me/", headers=cookie)).status_code == 200
    # Warm up under the same debug mode (debug mode reads source files the first time it records where a
    # future was created); then measure the same session of requests.
    await watched(lambda: session(1))
    assert await reproducible(lambda: session(2), lambda: session(3)) == set()

    # A Django session ended by a password change is flushed (a delete) without blocking either.
    async def ended_session() -> None:
        def change_password() -> None:  # Django hashes synchronously: off the loop, like the app
            people["alice"].set_password("changed-elsewhere-1")
            people["alice"].save()

        await orm(change_password)
        assert (await client.get("/api/users/me/", headers=cookie)).status_code == 401

    assert await reproducible(ended_session, ended_session) == set()


async def test_the_detector_catches_hashing_on_the_loop(app_client):
    from fastapi_app.compat import make_password_sync

    app, client = app_client

    @app.post("/hashing-for-the-test/")
    async def hashing() -> dict[str, str]:
        return {"hash": make_password_sync("the mistake: PBKDF2 at 10^6 iterations inside async def")}

    async def requests() -> None:
        assert (await client.post("/hashing-for-the-test/")).status_code == 200

    assert await reproducible(requests, requests)
