"""The port's requests are freed by reference counting alone: none leaves a reference cycle behind.

A request left in a cycle is freed only when the collector runs, and under load those requests pile up
until it does: with the port's own transport wrapper holding its request (fixed, fastapi_app/protocol.py),
every request of the bench's ``detail`` scenario did, and a worker ran a collection of the young
generation every ~500 requests (docs/performance.md, "No request left to the collector"). Served here by
the port's HTTP protocol, as uvicorn serves it, with the collector off."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from fastapi_app.protocol import LegacyHttpToolsProtocol
from legacy_django.users.models import User
from tests.modern.conftest import orm
from tests.modern.test_protocol import Transport

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(make_user) -> User:
    return make_user(username="alice")


def get(path: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: localhost", *headers, "", ""]).encode()


class _Answers(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, data: bytes) -> None:  # type: ignore[override]
        super().write(data)
        self.written.set()


async def _serve(app: Any, requests: list[bytes]) -> Transport:
    """One connection: each request sent once the answer to the one before it is in (one write per
    response, the protocol's own rule), then closed."""
    config = Config(app=app, http=LegacyHttpToolsProtocol, lifespan="off", access_log=False)
    config.load()
    protocol = LegacyHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = _Answers()
    protocol.connection_made(transport)
    for data in requests:
        transport.written.clear()
        protocol.data_received(data)
        await asyncio.wait_for(transport.written.wait(), 10)
    protocol.connection_lost(None)
    return transport


class _Marker:
    pass


async def _left_alive(app: Any, *requests: bytes) -> tuple[list[bytes], list[bool]]:
    """Serve ``requests`` on one connection with the collector off: the status lines, and for each
    request but the last (the connection's own until it closes) whether its scope outlived it."""
    refs: list[weakref.ref[_Marker]] = []

    async def marked(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["marker"] = marker = _Marker()  # lives as long as the request's scope
            refs.append(weakref.ref(marker))
            del marker
        await app(scope, receive, send)

    gc.collect()
    gc.disable()
    try:
        transport = await _serve(marked, [*requests, get("/last/")])
        alive = [ref() is not None for ref in refs[:-1]]
    finally:
        gc.enable()
    statuses = [write.split(b"\r\n", 1)[0] for write in transport.writes]
    return statuses, alive


async def test_reads_and_refusals_leave_no_cycle(modern_app, alice, token_for):
    token = await orm(token_for, alice)
    auth = f"Authorization: Token {token}"
    statuses, alive = await _left_alive(
        modern_app,
        get(f"/api/users/{alice.pk}/", auth),
        get("/api/users/?search=ali", auth),
        get("/api/users/me/", auth),
        get(f"/api/users/{alice.pk}/"),
        get(f"/api/users/{alice.pk}/", "Authorization: Token nope"),
    )
    assert statuses[:5] == [b"HTTP/1.1 200 OK"] * 3 + [b"HTTP/1.1 401 Unauthorized"] * 2
    assert alive == [False] * 5


async def test_not_found_leaves_no_cycle(modern_app, alice, token_for):
    auth = f"Authorization: Token {await orm(token_for, alice)}"
    statuses, alive = await _left_alive(
        modern_app,
        get("/api/users/999999/", auth),
        get("/nowhere/"),
    )
    assert statuses[:2] == [b"HTTP/1.1 404 Not Found"] * 2
    assert alive == [False, False]


def test_the_check_sees_a_cycle():
    """The check itself: a request whose scope holds itself is reported alive."""

    async def cyclic(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["self"] = scope
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    statuses, alive = asyncio.run(_left_alive(cyclic, get("/")))
    assert statuses[0] == b"HTTP/1.1 204 No Content" and alive == [True]
