"""DRF's ``SimpleMetadata`` documents, the 200 answers to OPTIONS (reproduced field by field)."""

from __future__ import annotations

from typing import Any

__all__ = ["TOKEN_METADATA", "user_metadata"]

DESCRIPTION = "Open sign-up; authenticated reads; changes by the user themself or by staff."


def _field(kind: str, required: bool, read_only: bool, label: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "required": required, "read_only": read_only, "label": label, **extra}


# UserSerializer's fields as SimpleMetadata.get_field_info describes them (serializer field order).
USER_FIELDS: dict[str, Any] = {
    "id": _field("integer", False, True, "ID"),
    "username": _field(
        "string", True, False, "Username",
        help_text="Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.", max_length=150,
    ),
    "email": _field("email", True, False, "Email", max_length=254),
    "password": _field("string", True, False, "Password", max_length=128),
    "first_name": _field("string", False, False, "First name", max_length=150),
    "last_name": _field("string", False, False, "Last name", max_length=150),
    "is_active": _field(
        "boolean", False, True, "Active",
        help_text="Designates whether this user should be treated as active. "
        "Unselect this instead of deleting accounts.",
    ),
    "is_staff": _field(
        "boolean", False, True, "Staff status",
        help_text="Designates whether the user can log into this admin site."
    ),
    "date_joined": _field("datetime", False, True, "Date joined"),
    "last_login": _field("datetime", False, True, "Last login"),
}  # fmt: skip


def user_metadata(name: str, action: str | None) -> dict[str, Any]:
    """The document for the ``User List``/``User Instance``/``Me`` views; ``action`` ("POST" or "PUT") is
    included only when the requester would be allowed to make that request."""
    document: dict[str, Any] = {
        "name": name,
        "description": DESCRIPTION,
        "renders": ["application/json"],
        "parses": ["application/json"],
    }
    if action is not None:
        document["actions"] = {action: USER_FIELDS}
    return document


# legacy_django.users.auth_views.ObtainToken: DRF names a view after its class, describes it by its docstring.
TOKEN_METADATA: dict[str, Any] = {
    "name": "Obtain Token",
    "description": (
        "DRF's obtain-token view (form, multipart or JSON credentials) with the hardened JSON parser."
    ),
    "renders": ["application/json"],
    "parses": ["application/x-www-form-urlencoded", "multipart/form-data", "application/json"],
    "actions": {
        "POST": {
            "username": _field("string", True, False, "Username"),
            "password": _field("string", True, False, "Password"),
            "token": _field("string", False, True, "Token"),
        }
    },
}
