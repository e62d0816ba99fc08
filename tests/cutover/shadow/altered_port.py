"""The demo's port as a test double: the real ``fastapi_app`` with, optionally, one JSON field of one route
changed (``SHADOW_ALTER="/api/users/me/:email"``), and every request's method and path recorded to the
file ``SHADOW_SEEN`` names. Run as ``uvicorn tests.cutover.shadow.altered_port:app``."""

from __future__ import annotations

import json
import os

from fastapi_app.main import app as port

ALTER = os.environ.get("SHADOW_ALTER", "")
SEEN = os.environ.get("SHADOW_SEEN", "")


async def app(scope, receive, send):
    if scope["type"] != "http":
        await port(scope, receive, send)
        return
    if SEEN:
        # A test double: one short append per request; the port's own code is what must not block.
        with open(SEEN, "a", encoding="utf-8") as fh:  # noqa: ASYNC230
            fh.write(f"{scope['method']} {scope['path']}\n")
    path, _, field = ALTER.partition(":")
    if not ALTER or scope["path"] != path:
        await port(scope, receive, send)
        return
    start: dict = {}
    body = b""

    async def capture(message):
        nonlocal body
        if message["type"] == "http.response.start":
            start.update(message)
            return
        body += message.get("body", b"")
        if message.get("more_body"):
            return
        try:
            data = json.loads(body)
            if isinstance(data, dict) and field in data:
                data[field] = f"altered-{data[field]}"
            altered = json.dumps(data).encode()
        except ValueError:
            altered = body
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(altered)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": altered})

    await port(scope, receive, capture)
