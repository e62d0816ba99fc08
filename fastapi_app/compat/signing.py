"""The subset of ``django.core.signing`` (Django 5.2) that signed sessions need, without Django.

``dumps``/``loads`` are Django's: a ``TimestampSigner`` (HMAC-SHA256 via ``salted_hmac``, separator ``:``,
base62 timestamp) over URL-safe base64 of compact JSON, zlib-compressed with a leading ``.`` when that is
shorter. A value signed by one side loads on the other with the same key and salt.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "BASE62_ALPHABET",
    "BadSignature",
    "SignatureExpired",
    "b62_decode",
    "b62_encode",
    "b64_decode",
    "b64_encode",
    "base64_hmac",
    "dumps",
    "loads",
    "salted_hmac",
    "sign",
    "unsign",
]

BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SEP = ":"
_ALGORITHM = "sha256"  # Signer's default algorithm since Django 3.1


class BadSignature(Exception):
    """Signature does not match."""


class SignatureExpired(BadSignature):
    """Signature timestamp is older than required max_age."""


def b62_encode(s: int) -> str:
    """Django's base62 encoding of an integer (used for signing timestamps)."""
    if s == 0:
        return "0"
    sign = "-" if s < 0 else ""
    s = abs(s)
    encoded = ""
    while s > 0:
        s, remainder = divmod(s, 62)
        encoded = BASE62_ALPHABET[remainder] + encoded
    return sign + encoded


def b62_decode(s: str) -> int:
    """Inverse of :func:`b62_encode`; raises ``ValueError`` on a character outside the alphabet."""
    if s == "0":
        return 0
    sign = 1
    if s[0] == "-":  # IndexError on "" like Django
        s = s[1:]
        sign = -1
    decoded = 0
    for digit in s:
        decoded = decoded * 62 + BASE62_ALPHABET.index(digit)
    return sign * decoded


def b64_encode(s: bytes) -> bytes:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(s).strip(b"=")


def b64_decode(s: bytes) -> bytes:
    """Inverse of :func:`b64_encode` (restores the padding)."""
    pad = b"=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s + pad)


def _force_bytes(s: str | bytes) -> bytes:
    return s if isinstance(s, bytes) else s.encode()


def salted_hmac(
    key_salt: str | bytes, value: str | bytes, secret: str | bytes, *, algorithm: str = "sha1"
) -> hmac.HMAC:
    """``django.utils.crypto.salted_hmac``: HMAC of ``value`` keyed by ``hash(key_salt + secret)``."""
    try:
        hasher: Callable[..., Any] = getattr(hashlib, algorithm)
    except AttributeError as exc:
        raise ValueError(f"{algorithm!r} is not an algorithm accepted by the hashlib module.") from exc
    # Django always derives the key by hashing, even when a plain concatenation would do (see its comment).
    key = hasher(_force_bytes(key_salt) + _force_bytes(secret)).digest()
    return hmac.new(key, msg=_force_bytes(value), digestmod=hasher)


def base64_hmac(salt: str, value: str | bytes, key: str | bytes, algorithm: str = "sha1") -> str:
    """Django's ``base64_hmac``: the unpadded URL-safe base64 of ``salted_hmac(...).digest()``."""
    return b64_encode(salted_hmac(salt, value, key, algorithm=algorithm).digest()).decode()


def _signature(value: str, key: str | bytes, salt: str) -> str:
    return base64_hmac(salt + "signer", value, key, algorithm=_ALGORITHM)


def sign(value: str, key: str | bytes, salt: str, *, timestamp: int | None = None) -> str:
    """``TimestampSigner(key=key, salt=salt).sign(value)``; ``timestamp`` defaults to now."""
    ts = int(time.time()) if timestamp is None else timestamp
    value = f"{value}{_SEP}{b62_encode(ts)}"
    return f"{value}{_SEP}{_signature(value, key, salt)}"


def unsign(
    signed_value: str,
    key: str | bytes,
    salt: str,
    fallback_keys: Sequence[str | bytes] = (),
    max_age: int | float | datetime.timedelta | None = None,
) -> str:
    """``TimestampSigner(...).unsign(signed_value, max_age)``: the value, else ``BadSignature``.

    The current key is tried first, then each fallback key (Django's ``SECRET_KEY_FALLBACKS`` rotation).
    """
    if _SEP not in signed_value:
        raise BadSignature(f'No "{_SEP}" found in value')
    value, sig = signed_value.rsplit(_SEP, 1)
    for candidate in [key, *fallback_keys]:
        if hmac.compare_digest(sig.encode(), _signature(value, candidate, salt).encode()):
            break
    else:
        raise BadSignature(f'Signature "{sig}" does not match')
    # Django's TimestampSigner.unsign: a verified value without a timestamp part is a ValueError, not a
    # BadSignature (it cannot happen for values Django signed).
    value, timestamp_b62 = value.rsplit(_SEP, 1)
    timestamp = b62_decode(timestamp_b62)
    if max_age is not None:
        if isinstance(max_age, datetime.timedelta):
            max_age = max_age.total_seconds()
        age = time.time() - timestamp
        if age > max_age:
            raise SignatureExpired(f"Signature age {age} > {max_age} seconds")
    return value


def dumps(
    obj: Any, key: str | bytes, salt: str, compress: bool = False, *, timestamp: int | None = None
) -> str:
    """``django.core.signing.dumps(obj, key=key, salt=salt, compress=compress)`` with the JSONSerializer."""
    # JSONSerializer: compact separators, ASCII-escaped (json's default), then latin-1 bytes.
    data = json.dumps(obj, separators=(",", ":")).encode("latin-1")
    is_compressed = False
    if compress:
        compressed = zlib.compress(data)
        if len(compressed) < (len(data) - 1):
            data = compressed
            is_compressed = True
    base64d = b64_encode(data).decode()
    if is_compressed:
        base64d = "." + base64d
    return sign(base64d, key, salt, timestamp=timestamp)


def loads(
    signed: str,
    key: str | bytes,
    fallback_keys: Sequence[str | bytes] = (),
    salt: str = "django.core.signing",
    max_age: int | float | datetime.timedelta | None = None,
) -> Any:
    """``django.core.signing.loads`` with the JSONSerializer.

    Raises :class:`BadSignature` / :class:`SignatureExpired`; a correctly signed but undecodable payload
    raises whatever base64/zlib/json raise (``ValueError``/``zlib.error``), as Django does.
    """
    base64d = unsign(signed, key, salt, fallback_keys, max_age).encode()
    decompress = base64d[:1] == b"."
    if decompress:
        base64d = base64d[1:]
    data = b64_decode(base64d)
    if decompress:
        data = zlib.decompress(data)
    return json.loads(data.decode("latin-1"))
