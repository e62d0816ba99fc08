"""Credential schemes of the catalog's own, for parity cases' ``auth = "NAME:USER"``.

Declared in cutover.toml under ``[identities.schemes]``; the toolkit calls each in-process, with Django
set up, with the fixture user, and sends what it returns. They mint tokens that simplejwt refuses in
each of its ways, with simplejwt's own code, so that the cases compare those refusals.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def _bearer(token: object) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


def expired_access_token(user: Any) -> dict[str, Any]:
    """An access token that expired five minutes ago ("Token is expired")."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=5))
    return _bearer(token)


def refresh_token(user: Any) -> dict[str, Any]:
    """A refresh token sent where an access token belongs ("Token has wrong type")."""
    from rest_framework_simplejwt.tokens import RefreshToken

    return _bearer(RefreshToken.for_user(user))


def foreign_token(user: Any) -> dict[str, Any]:
    """An access token signed with a key that is not this project's SECRET_KEY ("Token is invalid")."""
    from rest_framework_simplejwt.backends import TokenBackend
    from rest_framework_simplejwt.tokens import AccessToken

    payload = AccessToken.for_user(user).payload
    return _bearer(TokenBackend("HS256", "a-key-that-is-not-the-secret-key-of-this-site").encode(payload))
