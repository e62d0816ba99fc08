"""fastapi_app.compat.passwords against django.contrib.auth.hashers (the legacy's PASSWORD_HASHERS)."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import hashers as dj
from hypothesis import given, settings
from hypothesis import strategies as st

from fastapi_app.compat import passwords as compat

PASSWORDS = [
    "",
    "s3cret",
    "correct horse battery staple",
    "Ünïcødé-пароль-密码",
    "x" * 200,
    "tab\tand\nnewline",
]


# Cheap variants of Django's own hashers: same code, lower cost, so the bulk of cross-checks stays fast.
class CheapArgon2(dj.Argon2PasswordHasher):
    time_cost, memory_cost, parallelism = 1, 64, 1


class CheapBCrypt(dj.BCryptSHA256PasswordHasher):
    rounds = 4


class CheapScrypt(dj.ScryptPasswordHasher):
    work_factor = 2**8


def django_hash(kind: str, password: str) -> str:
    """A hash written by Django's hasher classes (cheap parameters unless the kind says default)."""
    if kind == "pbkdf2_sha256":
        return dj.PBKDF2PasswordHasher().encode(password, dj.PBKDF2PasswordHasher().salt(), 1000)
    if kind == "pbkdf2_sha1":
        return dj.PBKDF2SHA1PasswordHasher().encode(password, dj.PBKDF2SHA1PasswordHasher().salt(), 1000)
    for name, cls in {"argon2": CheapArgon2, "bcrypt_sha256": CheapBCrypt, "scrypt": CheapScrypt}.items():
        if kind == name:
            hasher = cls()
            return hasher.encode(password, hasher.salt())
    # kind == "<algorithm>-default": Django's make_password with the real default parameters.
    return dj.make_password(password, hasher=kind.removesuffix("-default"))


KINDS = ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "scrypt"]


def test_iterations_and_salt_follow_django():
    assert compat.PBKDF2_ITERATIONS == dj.PBKDF2PasswordHasher.iterations
    assert compat.RANDOM_STRING_CHARS == dj.RANDOM_STRING_CHARS
    assert compat.SALT_LENGTH == len(dj.PBKDF2PasswordHasher().salt()) == 22
    assert compat.UNUSABLE_PASSWORD_PREFIX == dj.UNUSABLE_PASSWORD_PREFIX
    assert compat.UNUSABLE_PASSWORD_SUFFIX_LENGTH == dj.UNUSABLE_PASSWORD_SUFFIX_LENGTH


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("iterations", [1, 1000, 4321])
def test_make_password_is_byte_identical_to_django(password, iterations):
    salt = dj.PBKDF2PasswordHasher().salt()
    ours = compat.make_password_sync(password, salt=salt, iterations=iterations)
    assert ours == dj.PBKDF2PasswordHasher().encode(password, salt, iterations)
    assert ours.startswith(f"pbkdf2_sha256${iterations}${salt}$")


@settings(max_examples=60, deadline=None)
@given(
    password=st.text(st.characters(exclude_categories=["Cs"])),
    salt=st.text(dj.RANDOM_STRING_CHARS, min_size=1),
)
def test_make_password_property(password, salt):
    assert compat.make_password_sync(password, salt=salt, iterations=7) == dj.PBKDF2PasswordHasher().encode(
        password, salt, 7
    )


def test_real_iteration_count_both_ways():
    # The only two hashes at 1,000,000 iterations in this module (~0.5 s each way).
    ours = compat.make_password_sync("the-real-thing")
    assert ours.startswith("pbkdf2_sha256$1000000$")
    assert dj.check_password("the-real-thing", ours)
    theirs = dj.make_password("the-real-thing")
    assert compat.check_password_sync("the-real-thing", theirs)
    assert not compat.check_password_sync("the-real-thin", theirs)


def test_random_salts_are_djangos_shape_and_fresh():
    hashes = [compat.make_password_sync("p", iterations=1) for _ in range(20)]
    salts = [h.split("$")[2] for h in hashes]
    assert len(set(salts)) == 20
    assert all(len(s) == 22 and set(s) <= set(dj.RANDOM_STRING_CHARS) for s in salts)
    # Django would not re-hash for salt entropy.
    assert not any(dj.must_update_salt(s, dj.BasePasswordHasher.salt_entropy) for s in salts)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("password", PASSWORDS[:4])
def test_check_password_accepts_djangos_hashes(kind, password):
    encoded = django_hash(kind, password)
    assert compat.check_password_sync(password, encoded) is True
    assert dj.check_password(password, encoded) is True
    for wrong in [password + "x", password.upper() + "!", ""]:
        if wrong != password:
            assert compat.check_password_sync(wrong, encoded) is dj.check_password(wrong, encoded) is False


@pytest.mark.parametrize("kind", ["argon2-default", "bcrypt_sha256-default", "scrypt-default"])
def test_check_password_at_djangos_default_parameters(kind):
    encoded = django_hash(kind, "pa55word")
    assert compat.check_password_sync("pa55word", encoded)
    assert not compat.check_password_sync("pa55wore", encoded)


@pytest.mark.parametrize("kind", KINDS)
def test_a_changed_character_is_detected(kind):
    encoded = django_hash(kind, "pw")
    last = encoded[-2]
    tampered = encoded[:-2] + ("A" if last != "A" else "B") + encoded[-1]
    assert compat.check_password_sync("pw", tampered) is dj.check_password("pw", tampered) is False


def test_unusable_passwords():
    encoded = compat.make_unusable_password()
    assert encoded.startswith("!") and len(encoded) == 41
    assert not compat.is_password_usable(encoded) and not dj.is_password_usable(encoded)
    assert compat.is_password_usable(None) is dj.is_password_usable(None) is True
    assert compat.is_password_usable("pbkdf2_sha256$1$a$b") is dj.is_password_usable("pbkdf2_sha256$1$a$b")
    assert compat.make_unusable_password() != encoded
    for value in [encoded, dj.make_password(None), "!", "!pbkdf2_sha256$1$abc$def"]:
        assert compat.check_password_sync("", value, equalize_timing=False) is False
        assert dj.check_password("", value) is False


# Formats Django itself refuses without raising (unknown algorithm, hasher not installed in the legacy).
UNKNOWN = [
    "",
    "plaintext",
    "md5$abc$0123456789abcdef0123456789abcdef",
    "5f4dcc3b5aa765d61d8327deb882cf99",  # unsalted md5 shape
    "sha1$$" + "a" * 40,
    "bcrypt$$2b$04$abcdefghijklmnopqrstuuWe1o8IaIMX6/7ZI5E4uY8x4v0H0v4M2",
    "argon2x$whatever",
    "crypt$$abc",
]


@pytest.mark.parametrize("encoded", UNKNOWN)
def test_unknown_formats_never_match_and_are_not_rehashed(encoded):
    assert compat.check_password_sync("password", encoded, equalize_timing=False) is False
    assert dj.check_password("password", encoded) is False
    assert compat.needs_rehash(encoded) is False


# Corrupt hashes of known algorithms: Django raises (a 500 in the legacy); the port answers False.
MALFORMED = [
    "pbkdf2_sha256$",
    "pbkdf2_sha256$abc$salt$hash",
    "pbkdf2_sha256$-5$salt$hash",
    "pbkdf2_sha256$1000$$hash",
    "pbkdf2_sha1$1000",
    "argon2$argon2id$garbage",
    "argon2",
    "bcrypt_sha256$$2b$12$short",
    "bcrypt_sha256$nothing",
    "scrypt$16384$salt$8$5",
    "scrypt$x$salt$8$5$hash",
    "scrypt$3$salt$8$5$hash",  # n not a power of two
]


@pytest.mark.parametrize("encoded", MALFORMED)
def test_malformed_known_formats_are_false_not_errors(encoded):
    assert compat.check_password_sync("password", encoded, equalize_timing=False) is False


def test_unencodable_password_is_false():
    encoded = django_hash("pbkdf2_sha256", "x")
    assert compat.check_password_sync("\ud800", encoded) is False


def django_would_resave(password: str, encoded: str) -> bool:
    """Run Django's check_password with a setter, as the login path does, and report whether it fired."""
    calls: list[str] = []
    assert dj.check_password(password, encoded, setter=calls.append)
    return bool(calls)


def rehash_cases() -> list[tuple[str, str]]:
    salt = dj.PBKDF2PasswordHasher().salt()
    return [
        ("current", dj.PBKDF2PasswordHasher().encode("pw", salt)),  # 1,000,000 iterations
        ("old-iterations", dj.PBKDF2PasswordHasher().encode("pw", salt, 870_000)),
        ("more-iterations", dj.PBKDF2PasswordHasher().encode("pw", salt, 1_000_001)),
        ("short-salt", dj.PBKDF2PasswordHasher().encode("pw", salt[:21])),
        ("long-salt", dj.PBKDF2PasswordHasher().encode("pw", salt + "abc")),
        ("sha1", dj.PBKDF2SHA1PasswordHasher().encode("pw", salt, 1_000_000)),
        ("argon2-default", django_hash("argon2-default", "pw")),
        ("argon2-cheap", django_hash("argon2", "pw")),
        ("bcrypt-default", django_hash("bcrypt_sha256-default", "pw")),
        ("scrypt-default", django_hash("scrypt-default", "pw")),
        ("scrypt-cheap", django_hash("scrypt", "pw")),
    ]


def test_needs_rehash_matches_djangos_setter():
    outcomes = {}
    for name, encoded in rehash_cases():
        expected = django_would_resave("pw", encoded)
        assert compat.needs_rehash(encoded) is expected, name
        outcomes[name] = expected
    # The comparison is meaningful only if both answers occur.
    assert outcomes["current"] is False and outcomes["long-salt"] is False
    assert outcomes["old-iterations"] and outcomes["short-salt"] and outcomes["argon2-default"]


def test_needs_rehash_for_unusable_is_false():
    assert compat.needs_rehash(compat.make_unusable_password()) is False


async def test_async_wrappers_run_off_the_event_loop(monkeypatch):
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real_make, real_check = compat.make_password_sync, compat.check_password_sync

    def make(password):
        seen.append(threading.get_ident())
        return real_make(password, iterations=10)

    def check(password, encoded):
        seen.append(threading.get_ident())
        return real_check(password, encoded)

    monkeypatch.setattr(compat, "make_password_sync", make)
    monkeypatch.setattr(compat, "check_password_sync", check)
    encoded = await compat.make_password("async-pw")
    assert await compat.check_password("async-pw", encoded)
    assert not await compat.check_password("nope", encoded)
    assert len(seen) == 3 and loop_thread not in seen
    assert dj.check_password("async-pw", encoded)


@pytest.mark.parametrize(
    ("encoded", "dummy_hashes"), [("!unusable", 1), ("md5$abc$def", 1), ("", 1), ("pbkdf2_sha256$x", 0)]
)
def test_unusable_and_unknown_hashes_cost_one_default_hash_like_django(monkeypatch, encoded, dummy_hashes):
    # Django's verify_password runs make_password() once for unusable/unknown hashes (anti-enumeration);
    # a malformed hash of a known algorithm raises in Django before any hashing. Count our PBKDF2 runs.
    iterations_seen: list[int] = []
    real = compat._pbkdf2_encode

    def counting(algorithm, password, salt, iterations):
        iterations_seen.append(iterations)
        return real(algorithm, password, salt, 1)  # keep the test fast

    monkeypatch.setattr(compat, "_pbkdf2_encode", counting)
    assert compat.check_password_sync("pw", encoded) is False
    assert iterations_seen == [compat.PBKDF2_ITERATIONS] * dummy_hashes
    iterations_seen.clear()
    assert compat.check_password_sync("pw", encoded, equalize_timing=False) is False
    assert iterations_seen == []
