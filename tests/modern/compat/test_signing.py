"""fastapi_app.compat.signing against django.core.signing (TimestampSigner + JSONSerializer)."""

from __future__ import annotations

import datetime
import zlib
from unittest import mock

import pytest
from django.core import signing as dj
from django.utils import crypto as dj_crypto
from hypothesis import given, settings
from hypothesis import strategies as st

from fastapi_app.compat import signing as compat

KEY = "test-secret-key-not-for-production"
OLD_KEY = "an-older-secret-key"
SALT = "some.salt"
NOW = 1_764_300_000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_b62_matches_django(n):
    assert compat.b62_encode(n) == dj.b62_encode(n)
    assert compat.b62_decode(dj.b62_encode(n)) == n


@settings(max_examples=50, deadline=None)
@given(st.binary())
def test_b64_matches_django(data):
    assert compat.b64_encode(data) == dj.b64_encode(data)
    assert compat.b64_decode(dj.b64_encode(data)) == data


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
@pytest.mark.parametrize("value", ["", "value", "ünïcode", b"\x00bytes"])
def test_salted_hmac_matches_django(algorithm, value):
    ours = compat.salted_hmac("key-salt", value, KEY, algorithm=algorithm).hexdigest()
    assert ours == dj_crypto.salted_hmac("key-salt", value, KEY, algorithm=algorithm).hexdigest()
    assert ours != compat.salted_hmac("key-salt", value, OLD_KEY, algorithm=algorithm).hexdigest()


def test_salted_hmac_rejects_unknown_algorithm():
    with pytest.raises(ValueError, match="not an algorithm"):
        compat.salted_hmac("s", "v", KEY, algorithm="nope")


@settings(max_examples=100, deadline=None)
@given(obj=json_values, compress=st.booleans())
def test_dumps_is_byte_identical_and_loads_both_ways(obj, compress):
    with mock.patch("time.time", return_value=NOW + 0.25):
        theirs = dj.dumps(obj, key=KEY, salt=SALT, compress=compress)
        ours = compat.dumps(obj, KEY, SALT, compress=compress)
    assert ours == theirs
    assert compat.loads(theirs, KEY, salt=SALT) == obj
    assert dj.loads(ours, key=KEY, salt=SALT, fallback_keys=[]) == compat.loads(ours, KEY, salt=SALT)


def test_compression_is_used_when_shorter():
    obj = {"k": "a" * 500}
    signed = compat.dumps(obj, KEY, SALT, compress=True)
    assert signed.startswith(".")
    assert dj.loads(signed, key=KEY, salt=SALT, fallback_keys=[]) == obj
    assert not compat.dumps({"a": 1}, KEY, SALT, compress=True).startswith(".")


def test_fallback_keys_and_wrong_key_or_salt():
    signed = dj.dumps({"x": 1}, key=OLD_KEY, salt=SALT)
    assert compat.loads(signed, KEY, [OLD_KEY], salt=SALT) == {"x": 1}
    with pytest.raises(compat.BadSignature):
        compat.loads(signed, KEY, [], salt=SALT)
    with pytest.raises(compat.BadSignature):
        compat.loads(signed, OLD_KEY, salt="other.salt")
    with pytest.raises(compat.BadSignature):
        compat.loads("no-separator", KEY, salt=SALT)
    tampered = signed[:-1] + ("A" if signed[-1] != "A" else "B")
    with pytest.raises(compat.BadSignature):
        compat.loads(tampered, OLD_KEY, salt=SALT)
    with pytest.raises(dj.BadSignature):
        dj.loads(tampered, key=OLD_KEY, salt=SALT, fallback_keys=[])


@pytest.mark.parametrize("max_age", [10, 10.0, datetime.timedelta(seconds=10)])
def test_max_age(max_age):
    with mock.patch("time.time", return_value=NOW):
        signed = compat.dumps("v", KEY, SALT)
    with mock.patch("time.time", return_value=NOW + 10):
        assert compat.loads(signed, KEY, salt=SALT, max_age=max_age) == "v"
        assert dj.loads(signed, key=KEY, salt=SALT, max_age=max_age, fallback_keys=[]) == "v"
    with mock.patch("time.time", return_value=NOW + 11):
        with pytest.raises(compat.SignatureExpired):
            compat.loads(signed, KEY, salt=SALT, max_age=max_age)
        with pytest.raises(dj.SignatureExpired):
            dj.loads(signed, key=KEY, salt=SALT, max_age=max_age, fallback_keys=[])
    assert issubclass(compat.SignatureExpired, compat.BadSignature)


def test_signed_but_undecodable_payloads_raise_like_django():
    signer = dj.TimestampSigner(key=KEY, salt=SALT, fallback_keys=[])
    for payload in [
        "!!!",
        "." + compat.b64_encode(b"not zlib").decode(),
        compat.b64_encode(b"{nope").decode(),
    ]:
        signed = signer.sign(payload)
        with pytest.raises(Exception) as theirs:  # noqa: B017 - the classes are compared below
            dj.loads(signed, key=KEY, salt=SALT, fallback_keys=[])
        with pytest.raises(Exception) as ours:  # noqa: B017
            compat.loads(signed, KEY, salt=SALT)
        assert type(ours.value) is type(theirs.value)
        assert not isinstance(ours.value, compat.BadSignature)
    assert zlib.error  # the zlib case above raises zlib.error on both sides
