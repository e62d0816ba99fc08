"""Django's four default password validators (Django 5.2), with identical messages in identical order.

The legacy's ``AUTH_PASSWORD_VALIDATORS`` run UserAttributeSimilarity, MinimumLength(8), CommonPassword and
NumericPassword, collecting every failure. :func:`validate_password` returns those messages (English, as the
legacy runs with ``LANGUAGE_CODE="en-us"``).
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Mapping
from difflib import SequenceMatcher
from pathlib import Path

__all__ = [
    "MAX_SIMILARITY",
    "MIN_LENGTH",
    "USER_ATTRIBUTES",
    "VERBOSE_NAMES",
    "common_passwords",
    "validate_password",
]

MIN_LENGTH = 8
MAX_SIMILARITY = 0.7
USER_ATTRIBUTES = ("username", "first_name", "last_name", "email")
# verbose_name of those fields on the legacy's users.User (AbstractUser's, email overridden with the same).
VERBOSE_NAMES = {
    "username": "username",
    "first_name": "first name",
    "last_name": "last name",
    "email": "email address",
}
# Copied verbatim from Django 5.2 (django/contrib/auth/common-passwords.txt.gz, BSD-3-Clause, Django Software
# Foundation; the 20,000 common passwords list by Royce Williams).
_COMMON_PASSWORDS_PATH = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"


@functools.cache
def common_passwords() -> frozenset[str]:
    """Django's common-password list, loaded once on first use."""
    with gzip.open(_COMMON_PASSWORDS_PATH, "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f)


def _exceeds_maximum_length_ratio(password: str, max_similarity: float, value: str) -> bool:
    # Django skips SequenceMatcher when the value is so short next to the password that the similarity
    # cannot reach max_similarity (and the answer must stay identical, so the shortcut is copied too).
    pwd_len = len(password)
    length_bound_similarity = max_similarity / 2 * pwd_len
    value_len = len(value)
    return pwd_len >= 10 * value_len and value_len < length_bound_similarity


def _too_similar(password: str, user_attributes: Mapping[str, object]) -> str | None:
    password = password.lower()
    for attribute_name in USER_ATTRIBUTES:
        value = user_attributes.get(attribute_name)
        if not value or not isinstance(value, str):
            continue
        value_lower = value.lower()
        value_parts = [*re.split(r"\W+", value_lower), value_lower]
        for value_part in value_parts:
            if _exceeds_maximum_length_ratio(password, MAX_SIMILARITY, value_part):
                continue
            # Django 5.2 decides on quick_ratio() alone (an upper bound of ratio()).
            if SequenceMatcher(a=password, b=value_part).quick_ratio() >= MAX_SIMILARITY:
                return f"The password is too similar to the {VERBOSE_NAMES[attribute_name]}."
    return None


def validate_password(password: str, user_attributes: Mapping[str, object] | None) -> list[str]:
    """The messages Django's ``validate_password(password, user)`` raises, in order; ``[]`` if it passes.

    ``user_attributes`` holds the user's ``username``/``first_name``/``last_name``/``email`` as they will be
    saved; ``None`` means no user (Django then skips the similarity check).
    """
    errors: list[str] = []
    if user_attributes is not None:
        similar = _too_similar(password, user_attributes)
        if similar:
            errors.append(similar)
    if len(password) < MIN_LENGTH:
        # ngettext singular/plural on min_length (8: plural).
        unit = "character" if MIN_LENGTH == 1 else "characters"
        errors.append(f"This password is too short. It must contain at least {MIN_LENGTH} {unit}.")
    if password.lower().strip() in common_passwords():
        errors.append("This password is too common.")
    if password.isdigit():
        errors.append("This password is entirely numeric.")
    return errors
