"""Django password hashes, read and written without Django.

Mirrors ``django.contrib.auth.hashers`` (Django 5.2) for the legacy ``PASSWORD_HASHERS``: pbkdf2_sha256 (the
preferred hasher, used for every new hash), pbkdf2_sha1, argon2, bcrypt_sha256 and scrypt. Anything else
(unusable ``!`` hashes, MD5, plain bcrypt, gibberish) never verifies, as in Django.

Where Django would raise on a malformed hash of a known algorithm (an HTTP 500 in the legacy), these functions
answer ``False``: a login with a corrupt hash fails instead of crashing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import secrets

import anyio.to_thread
import argon2
import bcrypt

__all__ = [
    "PBKDF2_ITERATIONS",
    "PREFERRED_ALGORITHM",
    "RANDOM_STRING_CHARS",
    "UNUSABLE_PASSWORD_PREFIX",
    "UNUSABLE_PASSWORD_SUFFIX_LENGTH",
    "check_password",
    "check_password_sync",
    "get_random_string",
    "identify_algorithm",
    "is_password_usable",
    "make_password",
    "make_password_sync",
    "make_unusable_password",
    "needs_rehash",
]

# Django 5.2's PBKDF2PasswordHasher.iterations; a test pins it to Django's value so an upgrade is noticed.
PBKDF2_ITERATIONS = 1_000_000
PREFERRED_ALGORITHM = "pbkdf2_sha256"
RANDOM_STRING_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
UNUSABLE_PASSWORD_PREFIX = "!"
UNUSABLE_PASSWORD_SUFFIX_LENGTH = 40
# BasePasswordHasher.salt_entropy: salts carrying fewer bits make Django re-hash on login.
SALT_ENTROPY = 128
SALT_LENGTH = math.ceil(SALT_ENTROPY / math.log2(len(RANDOM_STRING_CHARS)))  # 22

# The hashers of the legacy's PASSWORD_HASHERS, by algorithm name (the part before the first "$").
_PBKDF2_DIGESTS = {"pbkdf2_sha256": "sha256", "pbkdf2_sha1": "sha1"}
_KNOWN_ALGORITHMS = frozenset({*_PBKDF2_DIGESTS, "argon2", "bcrypt_sha256", "scrypt"})

# ScryptPasswordHasher defaults (Django 5.2).
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 5


def get_random_string(length: int, allowed_chars: str = RANDOM_STRING_CHARS) -> str:
    """``django.utils.crypto.get_random_string``: ``length`` characters chosen with ``secrets``."""
    return "".join(secrets.choice(allowed_chars) for _ in range(length))


def is_password_usable(encoded: str | None) -> bool:
    """False only for hashes written by ``set_unusable_password()`` (``None`` is usable, as in Django)."""
    return encoded is None or not encoded.startswith(UNUSABLE_PASSWORD_PREFIX)


def make_unusable_password() -> str:
    """What Django's ``make_password(None)`` stores: ``!`` followed by 40 random characters."""
    return UNUSABLE_PASSWORD_PREFIX + get_random_string(UNUSABLE_PASSWORD_SUFFIX_LENGTH)


def identify_algorithm(encoded: str) -> str | None:
    """The algorithm of ``encoded`` if it is one of the legacy's hashers, else ``None``.

    Follows ``identify_hasher``: the ancient unsalted MD5/SHA1 shapes are recognised as such and, since the
    legacy does not install those hashers, rejected.
    """
    if (len(encoded) == 32 and "$" not in encoded) or (len(encoded) == 37 and encoded.startswith("md5$$")):
        return None
    if len(encoded) == 46 and encoded.startswith("sha1$$"):
        return None
    algorithm = encoded.split("$", 1)[0]
    return algorithm if algorithm in _KNOWN_ALGORITHMS else None


def _pbkdf2_encode(algorithm: str, password: str, salt: str, iterations: int) -> str:
    # Django: ``iterations or self.iterations`` -- a stored 0 is hashed with the default count.
    iterations = iterations or PBKDF2_ITERATIONS
    digest = hashlib.pbkdf2_hmac(_PBKDF2_DIGESTS[algorithm], password.encode(), salt.encode(), iterations)
    b64 = base64.b64encode(digest).decode("ascii").strip()
    return f"{algorithm}${iterations}${salt}${b64}"


def make_password_sync(password: str, *, salt: str | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Hash ``password`` as Django's default hasher does: ``pbkdf2_sha256$<iterations>$<salt>$<base64>``.

    CPU-bound (~0.5 s at the default count): call :func:`make_password` from async code.
    """
    if not isinstance(password, str):
        raise TypeError(f"Password must be a string, got {type(password).__qualname__}.")
    salt = salt or get_random_string(SALT_LENGTH)
    if "$" in salt:
        raise ValueError("salt must be provided and cannot contain $.")
    return _pbkdf2_encode(PREFERRED_ALGORITHM, password, salt, iterations)


def _verify_pbkdf2(algorithm: str, password: str, encoded: str) -> bool:
    _, iterations, salt, _hash = encoded.split("$", 3)
    if not salt:
        return False
    return secrets.compare_digest(
        encoded.encode(), _pbkdf2_encode(algorithm, password, salt, int(iterations)).encode()
    )


def _verify_argon2(password: str, encoded: str) -> bool:
    _, rest = encoded.split("$", 1)
    try:
        # argon2-cffi reads the variety and parameters from the hash and compares in constant time.
        return argon2.PasswordHasher().verify("$" + rest, password)
    except argon2.exceptions.VerificationError:
        return False


def _bcrypt_sha256_encode(password: str, salt: bytes) -> str:
    # Django pre-hashes with SHA-256 (hex) so bcrypt's 72-byte truncation cannot bite.
    prehashed = binascii.hexlify(hashlib.sha256(password.encode()).digest())
    return "bcrypt_sha256$" + bcrypt.hashpw(prehashed, salt).decode("ascii")


def _verify_bcrypt_sha256(password: str, encoded: str) -> bool:
    _, data = encoded.split("$", 1)
    return secrets.compare_digest(
        encoded.encode(), _bcrypt_sha256_encode(password, data.encode("ascii")).encode()
    )


def _verify_scrypt(password: str, encoded: str) -> bool:
    algorithm, n, salt, r, p, _hash = encoded.split("$", 6)
    if not salt:
        return False
    n_, r_, p_ = int(n) or _SCRYPT_N, int(r) or _SCRYPT_R, int(p) or _SCRYPT_P
    derived = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n_, r=r_, p=p_, maxmem=0, dklen=64)
    b64 = base64.b64encode(derived).decode("ascii").strip()
    return secrets.compare_digest(encoded.encode(), f"{algorithm}${n_}${salt}${r_}${p_}${b64}".encode())


def check_password_sync(password: str, encoded: str, *, equalize_timing: bool = True) -> bool:
    """Whether ``password`` matches the Django hash ``encoded`` (any hasher of the legacy's PASSWORD_HASHERS).

    Unusable (``!``), unknown and malformed hashes never match. For unusable and unknown hashes Django
    still runs the default hasher once, so that their timing does not tell them apart from real accounts;
    ``equalize_timing`` does the same (turn it off only in tests). For a username that does not exist,
    Django's ModelBackend hashes the given password once: call :func:`make_password` for that.
    CPU-bound: call :func:`check_password` from async code.
    """
    if not isinstance(password, str) or not isinstance(encoded, str):
        return False
    algorithm = identify_algorithm(encoded) if is_password_usable(encoded) else None
    if algorithm is None:
        if equalize_timing:
            make_password_sync(get_random_string(UNUSABLE_PASSWORD_SUFFIX_LENGTH))
        return False
    try:
        if algorithm in _PBKDF2_DIGESTS:
            return _verify_pbkdf2(algorithm, password, encoded)
        if algorithm == "argon2":
            return _verify_argon2(password, encoded)
        if algorithm == "bcrypt_sha256":
            return _verify_bcrypt_sha256(password, encoded)
        return _verify_scrypt(password, encoded)
    # A corrupt stored hash (wrong field count, non-numeric cost, invalid bcrypt salt or argon2 encoding,
    # a password that is not encodable as UTF-8) is a failed login, not a crash.
    except (ValueError, TypeError, UnicodeError, OverflowError, MemoryError):
        return False


def needs_rehash(encoded: str) -> bool:
    """Whether Django would re-save this hash after a successful login (``check_password(..., setter)``).

    Django's ``verify_password`` answers ``must_update = hasher_changed or preferred.must_update(encoded)``
    with pbkdf2_sha256 preferred: every other algorithm of the legacy (pbkdf2_sha1, argon2, bcrypt_sha256,
    scrypt) is re-hashed whatever its parameters; a pbkdf2_sha256 hash is re-hashed when its iteration
    count is not the current default or its salt carries under 128 bits (fewer than 22 characters).
    Unusable and unknown hashes never log in, so they are never re-saved (False). ``harden_runtime`` only
    evens out the timing of failed logins and changes nothing here.
    """
    if not is_password_usable(encoded):
        return False
    algorithm = identify_algorithm(encoded)
    if algorithm is None:
        return False
    if algorithm != PREFERRED_ALGORITHM:
        return True
    try:
        _, iterations, salt, _hash = encoded.split("$", 3)
        return int(iterations) != PBKDF2_ITERATIONS or len(salt) < SALT_LENGTH
    except ValueError:
        # Malformed: it cannot verify, so there is nothing to re-save; Django itself would raise here.
        return False


async def make_password(password: str) -> str:
    """:func:`make_password_sync` in a worker thread, so hashing never blocks the event loop."""
    return await anyio.to_thread.run_sync(make_password_sync, password)


async def check_password(password: str, encoded: str) -> bool:
    """:func:`check_password_sync` in a worker thread, so hashing never blocks the event loop."""
    return await anyio.to_thread.run_sync(check_password_sync, password, encoded)
