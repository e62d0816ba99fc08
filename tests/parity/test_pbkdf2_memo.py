"""PBKDF2 memoised while parity runs in-process: the same bytes as PBKDF2, every input part of the key,
never on an event loop, and hashlib as it was afterwards."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutover.parity.pbkdf2_memo import memoised_pbkdf2

REAL = hashlib.pbkdf2_hmac
BASE = ("sha256", b"fixture-password-123", b"salt1234", 1_000, None)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["sha256", "sha1", "sha512"]),
    password=st.binary(max_size=40),
    salt=st.binary(max_size=24),
    iterations=st.integers(1, 50),
    dklen=st.none() | st.integers(1, 80),
)
def test_the_same_bytes_as_pbkdf2_first_time_and_again(name, password, salt, iterations, dklen):
    expected = REAL(name, password, salt, iterations, dklen)
    with memoised_pbkdf2() as memo:
        assert hashlib.pbkdf2_hmac(name, password, salt, iterations, dklen) == expected
        assert hashlib.pbkdf2_hmac(name, bytearray(password), memoryview(salt), iterations, dklen) == expected
    assert (memo.computed, memo.reused) == (1, 1)


@pytest.mark.parametrize(
    "other",
    [
        ("sha1",) + BASE[1:],
        BASE[:1] + (b"fixture-password-124",) + BASE[2:],
        BASE[:2] + (b"salt1235",) + BASE[3:],
        BASE[:3] + (1_001, None),
        BASE[:4] + (16,),
    ],
    ids=["hash", "password", "salt", "iterations", "length"],
)
def test_every_input_is_part_of_the_key(other):
    with memoised_pbkdf2() as memo:
        hashlib.pbkdf2_hmac(*BASE)
        assert hashlib.pbkdf2_hmac(*other) == REAL(*other)
    assert (memo.computed, memo.reused) == (2, 0)


def test_what_pbkdf2_refuses_it_still_refuses():
    with memoised_pbkdf2():
        with pytest.raises(TypeError):
            hashlib.pbkdf2_hmac("sha256", "a str", b"salt", 1)
        with pytest.raises(ValueError):
            hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 0)


def test_on_an_event_loop_it_computes_every_time():
    async def twice() -> None:
        hashlib.pbkdf2_hmac(*BASE)
        hashlib.pbkdf2_hmac(*BASE)

    with memoised_pbkdf2() as memo:
        asyncio.run(twice())
        # ... and off the loop it is remembered as usual.
        hashlib.pbkdf2_hmac(*BASE)
        hashlib.pbkdf2_hmac(*BASE)
    assert (memo.computed, memo.reused) == (1, 1)


def test_bounded_least_recently_used_first():
    with memoised_pbkdf2(size=2) as memo:
        for salt in (b"a", b"b", b"a", b"c", b"a", b"b"):
            hashlib.pbkdf2_hmac("sha256", b"pw", salt, 10)
    # a, b computed; a reused (now newest); c computed, b dropped; a reused; b computed again.
    assert (memo.computed, memo.reused) == (4, 2)


def test_hashlib_is_as_it_was_afterwards_even_after_an_error():
    before = hashlib.pbkdf2_hmac
    with pytest.raises(RuntimeError), memoised_pbkdf2():
        assert hashlib.pbkdf2_hmac is not before
        raise RuntimeError
    assert hashlib.pbkdf2_hmac is before
