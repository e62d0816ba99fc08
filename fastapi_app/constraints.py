"""The unique constraints of the users table, and the legacy's answer when a write violates one.

The validators check uniqueness before a write, but a concurrent request can commit the same username or
email (in any letter case) between that check and the insert or update. The unique indexes then decide,
and the legacy (``UserSerializer._save``) answers the loser with the validator's own 400. The port does
the same for every write path, in one place (the ``IntegrityError`` handler in ``errors.py``), wherever in
the request the violation surfaces: a sign-up's flush, an update's flush at commit. The request's session
is rolled back when the exception leaves the endpoint, so nothing of the request is written.

The violated constraint is read from the driver (asyncpg's ``constraint_name``), not from the message,
which quotes the offending values (a username can spell an index's name).

Every other integrity error is a 500 in the legacy as well, and stays one: a token created for a user
deleted meanwhile (``get_or_create`` re-raises when its retry finds no token), a delete racing a new token
for the user (Django's ``delete()`` does not catch). A session key that exists already is retried with a
new key, as Django's ``SessionStore.create`` does (``crud.insert_session``).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

__all__ = ["DUPLICATE_EMAIL", "DUPLICATE_USERNAME", "unique_violation_errors", "violated_constraint"]

DUPLICATE_EMAIL = "A user with that email already exists."
DUPLICATE_USERNAME = "A user with that username already exists."

# The field error each unique index's violation gets (the validator's message for that field).
_FIELD_ERRORS: dict[str, dict[str, list[str]]] = {
    "users_email_ci_uniq": {"email": [DUPLICATE_EMAIL]},
    "users_username_key": {"username": [DUPLICATE_USERNAME]},
}


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint the database reported, from the driver's exception."""
    name = getattr(exc.driver_exception, "constraint_name", None)
    return name if isinstance(name, str) else None


def unique_violation_errors(exc: IntegrityError) -> dict[str, list[str]] | None:
    """The legacy's 400 body for ``exc``, or ``None`` where the legacy lets it through (a 500)."""
    errors = _FIELD_ERRORS.get(violated_constraint(exc) or "")
    return None if errors is None else {field: list(messages) for field, messages in errors.items()}
