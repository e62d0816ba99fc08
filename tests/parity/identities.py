"""The demo's own credential schemes (``[tool.cutover.identities.schemes]``): broken credentials.

Each is called with a fixture user and returns the headers or cookies to send. Cases use them as
``auth = "tampered-token:alice"``, ``"expired-session:alice"`` and so on; a credential nobody holds is
simply a header of the case (``headers = { Authorization = "Token ..." }``).
"""

from __future__ import annotations

from typing import Any

from .fixture_demo import session_key


def _tamper(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _session_cookie() -> str:
    from django.conf import settings

    return settings.SESSION_COOKIE_NAME


def tampered_token(user: Any) -> dict[str, Any]:
    """The user's DRF token with its last character changed."""
    from rest_framework.authtoken.models import Token

    return {"headers": {"Authorization": f"Token {_tamper(Token.objects.get_or_create(user=user)[0].key)}"}}


def tampered_session(user: Any) -> dict[str, Any]:
    """A real session of the user, its cookie's last character changed: no such session."""
    from cutover.parity.identities import SessionScheme

    ((name, key),) = SessionScheme().mint(user).cookies
    return {"cookies": {name: _tamper(key)}}


def _fixture_session(kind: str, user: Any) -> dict[str, Any]:
    return {"cookies": {_session_cookie(): session_key(kind, user.get_username())}}


def expired_session(user: Any) -> dict[str, Any]:
    """The user's session of the fixture that expired in 2020."""
    return _fixture_session("expired", user)


def stale_session(user: Any) -> dict[str, Any]:
    """The user's session of the fixture from before a password change (a stale session auth hash)."""
    return _fixture_session("stale", user)


def forged_session(user: Any) -> dict[str, Any]:
    """The user's session of the fixture whose data is signed with another SECRET_KEY."""
    return _fixture_session("forged", user)
