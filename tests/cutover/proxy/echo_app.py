"""A tiny ASGI app that answers every request with which backend it is, for routing tests where the app
behind the proxy does not matter. Run as ``uvicorn tests.cutover.proxy.echo_app:app`` with ``ECHO_NAME``."""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import parse_qs

NAME = os.environ.get("ECHO_NAME", "echo")
# The X-Write-Id of every POST received (one server process), read back with GET /__writes: a test counts
# how many times each write reached a backend.
WRITES: list[str] = []


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    query = parse_qs(scope["query_string"].decode("latin-1"))
    if "sleep" in query:  # a slow request, to be in flight during a reload
        await asyncio.sleep(float(query["sleep"][0]))
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    if scope["method"] == "POST" and "x-write-id" in headers:
        WRITES.append(headers["x-write-id"])
    if scope["path"] == "/__writes":
        data = json.dumps(WRITES).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})
        return
    payload = {
        "backend": NAME,
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode("latin-1"),
        "headers": headers,
        "body_length": len(body),
        "client_port": scope["client"][1] if scope.get("client") else None,
    }
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"x-cutover-backend", b"spoofed")],
        }
    )
    await send({"type": "http.response.body", "body": data})
