"""Django's and DRF's string validators, ported (Django 5.2 ``core.validators``, ``contrib.auth.validators``,
DRF 3.18 ``validators``). Each returns the message Django would raise, or ``None``.

Django is BSD-licensed; the regular expressions below are Django's, verbatim.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = [
    "EMAIL_INVALID",
    "max_length",
    "prohibit_null_characters",
    "prohibit_surrogate_characters",
    "unicode_username",
    "valid_email",
]

EMAIL_INVALID = "Enter a valid email address."
USERNAME_INVALID = (
    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
)

_UL = "\u00a1-\uffff"
_HOSTNAME_RE = r"[a-z" + _UL + r"0-9](?:[a-z" + _UL + r"0-9-]{0,61}[a-z" + _UL + r"0-9])?"
_DOMAIN_RE = r"(?:\.(?!-)[a-z" + _UL + r"0-9-]{1,63}(?<!-))*"
_TLD_NO_FQDN_RE = r"\.(?!-)(?:[a-z" + _UL + "-]{2,63}|xn--[a-z0-9]{1,59})(?<!-)"
_USER_REGEX = re.compile(
    r"(^[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*\Z"
    r'|^"([\001-\010\013\014\016-\037!#-\[\]-\177]|\\[\001-\011\013\014\016-\177])'
    r'*"\Z)',
    re.IGNORECASE,
)
_DOMAIN_REGEX = re.compile(r"^" + _HOSTNAME_RE + _DOMAIN_RE + _TLD_NO_FQDN_RE + r"\Z", re.IGNORECASE)
_LITERAL_REGEX = re.compile(r"\[([A-F0-9:.]+)\]\Z", re.IGNORECASE)
_USERNAME_REGEX = re.compile(r"^[\w.@+-]+\Z")
_MAX_IPV6_ADDRESS_LENGTH = 39


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        pass
    if len(value) > _MAX_IPV6_ADDRESS_LENGTH:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def valid_email(value: str) -> bool:
    """``django.core.validators.EmailValidator`` (allow-list: ``localhost``)."""
    if not value or "@" not in value or len(value) > 320:
        return False
    user_part, domain_part = value.rsplit("@", 1)
    if not _USER_REGEX.match(user_part):
        return False
    if domain_part == "localhost" or _DOMAIN_REGEX.match(domain_part):
        return True
    literal = _LITERAL_REGEX.match(domain_part)
    return bool(literal and _is_ip_address(literal[1]))


def unicode_username(value: str) -> str | None:
    return None if _USERNAME_REGEX.search(value) else USERNAME_INVALID


def max_length(limit: int):  # noqa: ANN201 - a small validator factory
    def check(value: str) -> str | None:
        return f"Ensure this field has no more than {limit} characters." if len(value) > limit else None

    return check


def prohibit_null_characters(value: str) -> str | None:
    return "Null characters are not allowed." if "\x00" in value else None


def prohibit_surrogate_characters(value: str) -> str | None:
    for ch in value:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return f"Surrogate characters are not allowed: U+{ord(ch):X}."
    return None


def email(value: str) -> str | None:
    return None if valid_email(value) else EMAIL_INVALID
