"""What the users API reads and writes: a user as DRF's ``UserSerializer`` renders it, and the
input rules of its writable fields (``UserSerializer`` in ``legacy_django/users/serializers.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from asyncpg import Record
from sqlalchemy.ext.asyncio import AsyncSession

from shared_db.models import User

from . import crud
from . import validators as v
from .compat import validate_password
from .constraints import DUPLICATE_EMAIL, DUPLICATE_USERNAME
from .errors import ValidationError
from .fields import EMPTY, CharField, FieldErrors, SkipField
from .reads import UserLike

__all__ = ["DUPLICATE_EMAIL", "DUPLICATE_USERNAME", "drf_datetime", "render_user", "validate_user_input"]


def drf_datetime(value: datetime | None) -> str | None:
    """DRF's ``DateTimeField.to_representation`` with ``TIME_ZONE="UTC"``: ISO 8601, ``Z``, microseconds
    only when non-zero."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def render_user(user: UserLike) -> dict[str, Any]:
    """A user as DRF's ``UserSerializer`` renders it (the key order is the serializer's field order).

    A plain function rather than a pydantic model: it renders an ORM ``User`` and a read-path
    :class:`~fastapi_app.reads.Row` alike, without a ``model_validate`` + ``model_dump`` per response.
    A row's columns are read by key (in C), not through its attribute fallback (a Python call each)."""
    get = user.__getitem__ if isinstance(user, Record) else user.__getattribute__
    return {
        "id": get("id"),
        "username": get("username"),
        "email": get("email"),
        "first_name": get("first_name"),
        "last_name": get("last_name"),
        "is_active": get("is_active"),
        "is_staff": get("is_staff"),
        "date_joined": drf_datetime(get("date_joined")),
        "last_login": drf_datetime(get("last_login")),
    }


def normalize_email(email: str) -> str:
    """``BaseUserManager.normalize_email``: the domain part lower-cased."""
    try:
        name, domain = email.strip().rsplit("@", 1)
    except ValueError:
        return email
    return name + "@" + domain.lower()


def _fields(db: AsyncSession, instance: User | None) -> dict[str, CharField]:
    exclude = instance.id if instance is not None else None

    async def unique_username(value: str) -> str | None:
        return DUPLICATE_USERNAME if await crud.username_taken(db, value, exclude) else None

    return {
        # ModelSerializer's field: the model's validators (username regex, UniqueValidator) come first.
        "username": CharField(max_length=150, leading=(v.unicode_username, unique_username)),
        # Declared on the serializer: DRF's EmailField appends Django's EmailValidator last.
        "email": CharField(max_length=254, invalid_message=v.EMAIL_INVALID, extra=(v.email,)),
        "password": CharField(max_length=128, trim_whitespace=False),
        "first_name": CharField(max_length=150, required=False, allow_blank=True),
        "last_name": CharField(max_length=150, required=False, allow_blank=True),
    }


async def validate_user_input(
    data: Any, db: AsyncSession, *, instance: User | None = None, partial: bool = False
) -> dict[str, str]:
    """``UserSerializer(instance, data=data, partial=partial).is_valid(raise_exception=True)``.

    Returns the validated writable fields (``password`` raw); raises ValidationError with DRF's body.
    """
    if data is None:
        # Serializer.errors' special case for a null body.
        raise ValidationError({"non_field_errors": ["No data provided"]})
    if not isinstance(data, Mapping):
        raise ValidationError(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(data).__name__}."]}
        )
    validated: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, field in _fields(db, instance).items():
        try:
            value = await field.run(data.get(name, EMPTY), partial=partial)
            if name == "email":
                value = normalize_email(value)
                if await crud.email_taken(db, value, instance.id if instance is not None else None):
                    raise FieldErrors([DUPLICATE_EMAIL])
        except FieldErrors as exc:
            errors[name] = exc.messages
        except SkipField:
            continue
        else:
            validated[name] = value
    if errors:
        raise ValidationError(errors)
    if "password" in validated:
        # UserAttributeSimilarityValidator sees the user as it will be saved.
        attributes: dict[str, object] = {"username": "", "email": "", "first_name": "", "last_name": ""}
        if instance is not None:
            attributes.update({k: getattr(instance, k) for k in attributes})
        attributes.update({k: val for k, val in validated.items() if k != "password"})
        messages = validate_password(validated["password"], attributes)
        if messages:
            raise ValidationError({"password": messages})
    return validated
