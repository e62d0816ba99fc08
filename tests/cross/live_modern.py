"""The FastAPI port as the live servers of the cross tests serve it (``uvicorn --factory``): the real app
with the cheap password hashes of ``tests/cross/live_settings.py``."""

from __future__ import annotations

from fastapi import FastAPI

from fastapi_app.compat import passwords
from fastapi_app.main import create_app

QUICK_ITERATIONS = 50_000  # as tests.cross.live_settings (which imports Django, so not imported here)


def app() -> FastAPI:
    assert passwords.make_password_sync.__kwdefaults__ is not None
    passwords.make_password_sync.__kwdefaults__["iterations"] = QUICK_ITERATIONS
    return create_app()
