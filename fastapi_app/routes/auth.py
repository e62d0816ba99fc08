"""``POST /api/auth/token/``: DRF's ``obtain_auth_token`` (get-or-create a token for valid credentials)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from shared_db.models import User

from .. import crud
from ..compat import check_password, make_password, needs_rehash
from ..deps import SessionDep, View, request_data
from ..errors import ValidationError
from ..fields import EMPTY, CharField, FieldErrors
from ..metadata import TOKEN_METADATA
from ..negotiation import FORM, JSON, MULTIPART
from ..responses import api_response
from . import ViewRoute, method_fallback

__all__ = ["fallbacks", "router"]

PATH = "/api/auth/token/"
router = APIRouter(tags=["auth"], route_class=ViewRoute)
# ObtainAuthToken: no permission classes, its own parsers (form, multipart, JSON).
TOKEN = View("POST, OPTIONS", parsers=(FORM, MULTIPART, JSON))
FIELDS = {"username": CharField(), "password": CharField(trim_whitespace=False)}
BAD_CREDENTIALS = "Unable to log in with provided credentials."


async def authenticate_credentials(db: AsyncSession, username: str, password: str) -> User | None:
    """``django.contrib.auth.authenticate`` with ModelBackend.

    Like Django: an unknown username still costs one hash (timing), a correct password stored with old
    parameters is re-hashed and saved (even for an inactive user), and inactive users are refused.
    """
    user = await db.scalar(select(User).where(User.username == username))
    if user is None:
        await make_password(password)
        return None
    if not await check_password(password, user.password):
        return None
    if needs_rehash(user.password):
        user.password = await make_password(password)
        await crud.set_password_hash(db, user.id, user.password)
        await db.commit()
    return user if user.is_active else None


@router.post(PATH, summary="Obtain the API token for username + password")
async def obtain_token(request: Request, db: SessionDep) -> Response:
    await TOKEN.any_user(request)
    data = await request_data(request)
    if data is None:
        raise ValidationError({"non_field_errors": ["No data provided"]})
    if not isinstance(data, Mapping):
        raise ValidationError(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(data).__name__}."]}
        )
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, field in FIELDS.items():
        try:
            values[name] = await field.run(data.get(name, EMPTY))
        except FieldErrors as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    found = await authenticate_credentials(db, values["username"], values["password"])
    if found is None:
        raise ValidationError({"non_field_errors": [BAD_CREDENTIALS]})
    key = await crud.get_or_create_token(db, found.id)
    await db.commit()
    return api_response(request, {"token": key})


@router.options(PATH, include_in_schema=False)
async def token_metadata(request: Request) -> Response:
    await TOKEN.any_user(request)
    return api_response(request, TOKEN_METADATA)


fallbacks = [method_fallback(PATH, TOKEN, requires_login=False)]
