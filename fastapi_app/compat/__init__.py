"""Django's credential formats for the FastAPI port, reimplemented without importing Django.

Password hashes, password validation messages, signed values, ``django_session`` payloads and the CSRF check
of DRF's SessionAuthentication -- each tested against what Django itself produces (``tests/modern/compat``).
"""

from __future__ import annotations

from .csrf import csrf_failure_reason, mask_token, new_csrf_secret, unmask_token
from .password_validation import validate_password
from .passwords import (
    PBKDF2_ITERATIONS,
    UNUSABLE_PASSWORD_PREFIX,
    check_password,
    check_password_sync,
    is_password_usable,
    make_password,
    make_password_sync,
    make_unusable_password,
    needs_rehash,
)
from .sessions import (
    AUTHENTICATION_BACKENDS,
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    MODEL_BACKEND,
    SESSION_COOKIE_NAME,
    SESSION_KEY,
    decode_session,
    encode_session,
    match_session_hash,
    new_session_key,
    session_auth_hash,
    session_hash_matches,
    session_user_id,
)
from .signing import BadSignature, SignatureExpired, dumps, loads, salted_hmac

__all__ = [
    "AUTHENTICATION_BACKENDS",
    "BACKEND_SESSION_KEY",
    "HASH_SESSION_KEY",
    "MODEL_BACKEND",
    "PBKDF2_ITERATIONS",
    "SESSION_COOKIE_NAME",
    "SESSION_KEY",
    "UNUSABLE_PASSWORD_PREFIX",
    "BadSignature",
    "SignatureExpired",
    "check_password",
    "check_password_sync",
    "csrf_failure_reason",
    "decode_session",
    "dumps",
    "encode_session",
    "is_password_usable",
    "loads",
    "make_password",
    "make_password_sync",
    "make_unusable_password",
    "mask_token",
    "match_session_hash",
    "needs_rehash",
    "new_csrf_secret",
    "new_session_key",
    "salted_hmac",
    "session_auth_hash",
    "session_hash_matches",
    "session_user_id",
    "unmask_token",
    "validate_password",
]
