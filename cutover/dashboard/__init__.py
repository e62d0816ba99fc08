"""`cutover dashboard`: every route, its parity, shadow and live figures, and the moves, on one page."""

from __future__ import annotations

from .app import create_app
from .auth import Auth
from .data import Sources

__all__ = ["Auth", "Sources", "create_app"]
