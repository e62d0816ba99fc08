"""Django database sessions (``django.contrib.sessions.backends.db``) and the auth keys stored in them.

The legacy keeps sessions in the ``django_session`` table: ``session_key`` (the ``sessionid`` cookie),
``session_data`` (a signed, compressed JSON dict, see :mod:`.signing`) and ``expire_date``. Reading a session
is: look the row up by key **and** ``expire_date > now()`` (the caller does that in SQL, exactly like Django's
``SessionStore._get_session_from_db``; an expired row is a missing session), then :func:`decode_session`.

The logged-in user is then resolved as ``django.contrib.auth.get_user`` does:

1. ``_auth_user_id`` and ``_auth_user_backend`` must both be present (:func:`session_user_id`);
2. the backend must be one of the legacy's ``AUTHENTICATION_BACKENDS`` (:data:`AUTHENTICATION_BACKENDS`);
3. the user must exist and be active (``ModelBackend.get_user``) -- the caller's query;
4. ``_auth_user_hash`` must match the HMAC of the user's current password hash, under the current secret or a
   fallback (:func:`session_hash_matches`); otherwise Django flushes the session and the request is anonymous.
"""

from __future__ import annotations

import hmac
import string
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from . import signing
from .passwords import get_random_string

__all__ = [
    "AUTHENTICATION_BACKENDS",
    "BACKEND_SESSION_KEY",
    "HASH_SESSION_KEY",
    "MODEL_BACKEND",
    "SESSION_COOKIE_NAME",
    "SESSION_KEY",
    "SESSION_SALT",
    "decode_session",
    "encode_session",
    "match_session_hash",
    "new_session_key",
    "session_auth_hash",
    "session_hash_matches",
    "session_user_id",
]

SESSION_KEY = "_auth_user_id"
BACKEND_SESSION_KEY = "_auth_user_backend"
HASH_SESSION_KEY = "_auth_user_hash"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
# The legacy's settings.AUTHENTICATION_BACKENDS (Django's default).
AUTHENTICATION_BACKENDS: tuple[str, ...] = (MODEL_BACKEND,)
SESSION_COOKIE_NAME = "sessionid"
# SessionBase.key_salt for the db backend's SessionStore class.
SESSION_SALT = "django.contrib.sessions.SessionStore"
_AUTH_HASH_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
# SessionBase._get_new_session_key: 32 characters, lowercase and digits.
_VALID_KEY_CHARS = string.ascii_lowercase + string.digits


def decode_session(
    session_data: str, secret_key: str, fallbacks: Sequence[str] = ()
) -> dict[str, Any] | None:
    """The session dict stored in ``django_session.session_data``, or ``None`` where Django reads ``{}``.

    Django's ``SessionBase.decode`` turns any failure (bad signature, wrong key or salt, corrupt base64,
    zlib or JSON) into an empty session; this returns ``None`` in exactly those cases. No ``max_age`` is
    applied: the db backend relies on ``expire_date`` (the caller's query), not on the signature's timestamp.
    """
    try:
        data = signing.loads(session_data, secret_key, fallbacks, salt=SESSION_SALT)
    except Exception:
        return None
    # Django would hand back any JSON value; only a forged-with-the-secret payload can be a non-dict, and the
    # legacy would then fail on it. Treat it as no session.
    return data if isinstance(data, dict) else None


def encode_session(data: Mapping[str, Any], secret_key: str) -> str:
    """``SessionStore().encode(data)``: what to write in ``django_session.session_data`` (compressed)."""
    return signing.dumps(dict(data), secret_key, SESSION_SALT, compress=True)


def new_session_key() -> str:
    """A fresh ``session_key`` as Django makes one (32 chars of ``[a-z0-9]``); check it is unused."""
    return get_random_string(32, _VALID_KEY_CHARS)


def session_user_id(data: Mapping[str, Any]) -> int | None:
    """The user id of a logged-in session, or ``None`` when Django's ``get_user`` would see no login.

    Requires ``_auth_user_id`` and a ``_auth_user_backend`` among :data:`AUTHENTICATION_BACKENDS`. The id
    is converted like ``BigAutoField.to_python`` (``int(value)``); a value that does not convert (only
    possible in a payload forged with the secret; Django would raise) gives ``None``.
    """
    if SESSION_KEY not in data or BACKEND_SESSION_KEY not in data:
        return None
    if data[BACKEND_SESSION_KEY] not in AUTHENTICATION_BACKENDS:
        return None
    value = data[SESSION_KEY]
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def session_auth_hash(password_hash: str, secret_key: str) -> str:
    """``AbstractBaseUser.get_session_auth_hash()`` for a user whose ``password`` is ``password_hash``."""
    return signing.salted_hmac(_AUTH_HASH_SALT, password_hash, secret_key, algorithm="sha256").hexdigest()


def _compare(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def match_session_hash(
    stored: str | None, password_hash: str, secret_key: str, fallbacks: Sequence[str] = ()
) -> Literal["current", "fallback"] | None:
    """Which secret verifies the session's ``_auth_user_hash``: ``"current"``, ``"fallback"`` or ``None``.

    ``django.contrib.auth.get_user``: on ``"fallback"`` Django keeps the login but cycles the session key and
    stores the hash under the current secret; on ``None`` it flushes the session (anonymous request).
    An empty or missing stored hash never matches.
    """
    if not stored or not isinstance(stored, str):
        return None
    if _compare(stored, session_auth_hash(password_hash, secret_key)):
        return "current"
    if any(_compare(stored, session_auth_hash(password_hash, fallback)) for fallback in fallbacks):
        return "fallback"
    return None


def session_hash_matches(
    stored: str | None, password_hash: str, secret_key: str, fallbacks: Sequence[str] = ()
) -> bool:
    """Whether the session's ``_auth_user_hash`` matches the user's password (current key, then fallbacks)."""
    return match_session_hash(stored, password_hash, secret_key, fallbacks) is not None
