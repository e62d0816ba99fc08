"""Starlette's TestClient (the app in its own thread and event loop, driven synchronously).

Starlette 1.x warns that its TestClient will move from httpx to httpx2; the project pins httpx, so the
warning is silenced here, once, rather than turned off for the whole suite.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["TestClient"]
