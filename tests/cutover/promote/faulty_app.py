"""The modern test double of the promotion tests: the echo app (``tests/cutover/proxy/echo_app.py``) until
a flag file appears in ``FAULTS_DIR``: ``fail`` makes every answer a 500, ``slow`` adds 500 ms to each.
Run as ``uvicorn tests.cutover.promote.faulty_app:app`` with ``ECHO_NAME`` and ``FAULTS_DIR``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.cutover.proxy.echo_app import app as echo

FAULTS = Path(os.environ.get("FAULTS_DIR", "."))
SLOW = 0.5


async def app(scope, receive, send):
    if scope["type"] == "http":
        if (FAULTS / "slow").exists():
            await asyncio.sleep(SLOW)
        if (FAULTS / "fail").exists():
            await send(
                {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]}
            )
            await send({"type": "http.response.body", "body": b"modern broke"})
            return
    await echo(scope, receive, send)
