"""simplejwt's ``JWTAuthentication``, as the legacy configures it (catalog_site.settings SIMPLE_JWT).

HS256 signed with the Django ``SECRET_KEY``, no audience or issuer, no leeway; an access token must carry
``exp``, ``jti`` and ``token_type = "access"``, and ``user_id`` names an active user. Every failure is
simplejwt's 401 body, word for word (rest_framework_simplejwt 5.5: tokens.py, backends.py,
authentication.py). Verifying an HMAC is microseconds of CPU: it runs on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from .errors import AuthenticationFailed
from .models import User

__all__ = ["Identity", "authenticate"]

ALGORITHM = "HS256"
AUTH_HEADER_TYPES = (b"Bearer",)
# auth_user.id is a PostgreSQL integer; Django compares a larger id without error and finds nobody.
_INT4 = range(-(2**31), 2**31)


@dataclass(frozen=True)
class Identity:
    """The authenticated user, as far as the ported views look at it."""

    id: int
    username: str
    is_staff: bool


class _TokenError(Exception):
    pass


def _invalid_token(detail: str, messages: list[dict[str, str]] | None = None) -> AuthenticationFailed:
    # simplejwt's InvalidToken: DetailDictMixin over {"detail", "code": "token_not_valid"}.
    body: dict[str, Any] = {"detail": detail, "code": "token_not_valid"}
    if messages is not None:
        body["messages"] = messages
    return AuthenticationFailed(body)


def _failed(detail: str, code: str) -> AuthenticationFailed:
    return AuthenticationFailed({"detail": detail, "code": code})


def _access_token(raw: bytes, secret_key: str) -> dict[str, Any]:
    """``AccessToken(raw)``: decode with the backend, then ``Token.verify()``."""
    try:
        payload = jwt.decode(
            raw,
            secret_key,
            algorithms=[ALGORITHM],
            audience=None,
            issuer=None,
            leeway=timedelta(seconds=0),
            options={"verify_aud": False, "verify_signature": True},
        )
    except jwt.ExpiredSignatureError:
        raise _TokenError("Token is expired") from None
    except jwt.InvalidTokenError:  # InvalidAlgorithmError included: simplejwt says "Token is invalid"
        raise _TokenError("Token is invalid") from None
    if "exp" not in payload:
        raise _TokenError("Token has no 'exp' claim")
    if datetime.fromtimestamp(payload["exp"], tz=UTC) <= datetime.now(tz=UTC):
        raise _TokenError("Token 'exp' claim has expired")
    if "jti" not in payload:
        raise _TokenError("Token has no id")
    if "token_type" not in payload:
        raise _TokenError("Token has no type")
    if payload["token_type"] != "access":
        raise _TokenError("Token has wrong type")
    return payload


def _raw_token(request: Request) -> bytes | None:
    values = request.headers.getlist("authorization")
    if not values:
        return None
    # WSGI hands Django the header as latin-1 text; simplejwt splits its bytes on ASCII whitespace.
    parts = ",".join(values).encode("latin-1").split()
    if not parts or parts[0] not in AUTH_HEADER_TYPES:
        return None  # no header, or another scheme: not a JWT, so anonymous
    if len(parts) != 2:
        raise _failed(
            "Authorization header must contain two space-delimited values", "bad_authorization_header"
        )
    return parts[1]


async def authenticate(request: Request, session: AsyncSession, secret_key: str) -> Identity | None:
    """The user the request's ``Authorization: Bearer`` token names, None when it carries none."""
    raw = _raw_token(request)
    if raw is None:
        return None
    try:
        payload = _access_token(raw, secret_key)
    except _TokenError as exc:
        messages = [{"token_class": "AccessToken", "token_type": "access", "message": str(exc)}]
        raise _invalid_token("Given token not valid for any token type", messages) from None
    if "user_id" not in payload:
        raise _invalid_token("Token contained no recognizable user identification")
    claim = payload["user_id"]
    # User.objects.get(id=claim): None matches nobody; AutoField.get_prep_value is int(), whose
    # TypeError or ValueError (a list, "2.0") escapes Django as a 500, here too.
    user_id = None if claim is None else int(claim)
    row = None
    if user_id is not None and user_id in _INT4:
        query = select(User.id, User.username, User.is_staff, User.is_active).where(User.id == user_id)
        row = (await session.execute(query)).one_or_none()
    if row is None:
        raise _failed("User not found", "user_not_found")
    if not row.is_active:
        raise _failed("User is inactive", "user_inactive")
    return Identity(id=row.id, username=row.username, is_staff=row.is_staff)
