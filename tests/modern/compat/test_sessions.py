"""fastapi_app.compat.sessions against Django's db SessionStore and django.contrib.auth.get_user."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib import auth
from django.contrib.sessions.backends.db import SessionStore
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from fastapi_app.compat import sessions as compat
from fastapi_app.compat import signing
from legacy_django.users.models import User

KEY = "session-test-secret"
OLD_KEY = "session-test-old-secret"
NOW = 1_764_300_000

session_dicts = st.dictionaries(
    st.text(max_size=12),
    st.none() | st.booleans() | st.integers() | st.text() | st.lists(st.text(max_size=5), max_size=3),
    max_size=6,
)


def test_constants_match_django():
    assert compat.SESSION_KEY == auth.SESSION_KEY
    assert compat.BACKEND_SESSION_KEY == auth.BACKEND_SESSION_KEY
    assert compat.HASH_SESSION_KEY == auth.HASH_SESSION_KEY
    assert compat.SESSION_SALT == SessionStore().key_salt
    from django.conf import settings as dj_settings

    assert list(compat.AUTHENTICATION_BACKENDS) == dj_settings.AUTHENTICATION_BACKENDS
    assert compat.SESSION_COOKIE_NAME == dj_settings.SESSION_COOKIE_NAME
    assert dj_settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    assert dj_settings.SESSION_SERIALIZER == "django.contrib.sessions.serializers.JSONSerializer"


@settings(max_examples=60, deadline=None)
@given(data=session_dicts)
def test_encode_is_byte_identical_and_decodes_both_ways(data):
    with override_settings(SECRET_KEY=KEY, SECRET_KEY_FALLBACKS=[]):
        with mock.patch("time.time", return_value=NOW):
            theirs = SessionStore().encode(data)
            ours = compat.encode_session(data, KEY)
        assert ours == theirs
        assert SessionStore().decode(ours) == data
    assert compat.decode_session(theirs, KEY, []) == data


def test_decode_with_fallback_key():
    with override_settings(SECRET_KEY=OLD_KEY):
        encoded = SessionStore().encode({"a": 1})
    assert compat.decode_session(encoded, KEY, [OLD_KEY]) == {"a": 1}
    with override_settings(SECRET_KEY=KEY, SECRET_KEY_FALLBACKS=[OLD_KEY]):
        assert SessionStore().decode(encoded) == {"a": 1}


def undecodable_values() -> list[str]:
    good = compat.encode_session({"a": 1}, KEY)
    return [
        "",
        "garbage",
        good[:-1] + ("A" if good[-1] != "A" else "B"),  # tampered signature
        "X" + good,  # tampered payload
        compat.encode_session({"a": 1}, "someone-elses-key"),
        signing.dumps({"a": 1}, KEY, "django.contrib.sessions.backends.signed_cookies", compress=True),
        signing.sign("!!!", KEY, compat.SESSION_SALT),  # signed, not base64
        signing.sign("." + signing.b64_encode(b"not zlib").decode(), KEY, compat.SESSION_SALT),
        signing.sign(signing.b64_encode(b"{not json").decode(), KEY, compat.SESSION_SALT),
        signing.sign(signing.b64_encode(b"\xff\xfe").decode(), KEY, compat.SESSION_SALT),
        signing.dumps({"a": 1}, KEY, compat.SESSION_SALT).rsplit(":", 2)[0] + ":" + "sig",
        "a:b:c:d",
    ]


@pytest.mark.parametrize("index", range(12))
def test_undecodable_is_none_exactly_where_django_reads_empty(index, caplog):
    value = undecodable_values()[index]
    with override_settings(SECRET_KEY=KEY, SECRET_KEY_FALLBACKS=[]):
        assert SessionStore().decode(value) == {}
    assert compat.decode_session(value, KEY, []) is None


def test_a_valid_value_is_not_none():
    # Guard for the table above: the same construction with the right ingredients decodes on both sides.
    value = signing.sign(signing.b64_encode(b'{"a":1}').decode(), KEY, compat.SESSION_SALT)
    with override_settings(SECRET_KEY=KEY, SECRET_KEY_FALLBACKS=[]):
        assert SessionStore().decode(value) == {"a": 1}
    assert compat.decode_session(value, KEY, []) == {"a": 1}


@pytest.mark.parametrize("password_hash", ["pbkdf2_sha256$1000000$salt$hash", "!unusable", ""])
def test_session_auth_hash_matches_django(password_hash):
    user = User(password=password_hash)
    with override_settings(SECRET_KEY=KEY, SECRET_KEY_FALLBACKS=[OLD_KEY]):
        assert compat.session_auth_hash(password_hash, KEY) == user.get_session_auth_hash()
        assert [compat.session_auth_hash(password_hash, OLD_KEY)] == list(
            user.get_session_auth_fallback_hash()
        )


def test_match_session_hash():
    pw = "pbkdf2_sha256$1000000$salt$hash"
    current, old = compat.session_auth_hash(pw, KEY), compat.session_auth_hash(pw, OLD_KEY)
    assert compat.match_session_hash(current, pw, KEY, [OLD_KEY]) == "current"
    assert compat.match_session_hash(old, pw, KEY, [OLD_KEY]) == "fallback"
    assert compat.match_session_hash(old, pw, KEY, []) is None
    assert compat.match_session_hash(current, pw + "changed", KEY, [OLD_KEY]) is None
    assert compat.match_session_hash("", pw, KEY, [OLD_KEY]) is None
    assert compat.match_session_hash(None, pw, KEY, [OLD_KEY]) is None
    assert compat.session_hash_matches(old, pw, KEY, [OLD_KEY]) is True
    assert compat.session_hash_matches(current, pw + "x", KEY, [OLD_KEY]) is False


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"_auth_user_id": "5", "_auth_user_backend": compat.MODEL_BACKEND}, 5),
        ({"_auth_user_id": 7, "_auth_user_backend": compat.MODEL_BACKEND}, 7),
        ({"_auth_user_id": "5"}, None),
        ({"_auth_user_backend": compat.MODEL_BACKEND}, None),
        ({"_auth_user_id": "5", "_auth_user_backend": "some.other.Backend"}, None),
        ({"_auth_user_id": "abc", "_auth_user_backend": compat.MODEL_BACKEND}, None),
        ({"_auth_user_id": None, "_auth_user_backend": compat.MODEL_BACKEND}, None),
        ({}, None),
    ],
)
def test_session_user_id(data, expected):
    assert compat.session_user_id(data) == expected


@pytest.mark.django_db
def test_a_real_django_login_is_read_by_the_port(client, fixture_password_hash):
    """Log in through Django (db sessions), then resolve the user from the django_session row alone."""
    from django.contrib.sessions.models import Session

    user = User.objects.create(username="sess", email="sess@example.com", password=fixture_password_hash)
    with override_settings(SECRET_KEY=KEY, SECRET_KEY_FALLBACKS=[]):
        client.force_login(user)
        row = Session.objects.get(session_key=client.cookies["sessionid"].value)
    data = compat.decode_session(row.session_data, KEY, [])
    assert data is not None
    assert compat.session_user_id(data) == user.pk
    assert compat.session_hash_matches(data[compat.HASH_SESSION_KEY], user.password, KEY, [])
    # Key rotation: the old key is now a fallback; both sides still accept the login.
    assert compat.decode_session(row.session_data, "new-key", [KEY]) == data
    assert (
        compat.match_session_hash(data[compat.HASH_SESSION_KEY], user.password, "new-key", [KEY])
        == "fallback"
    )
    # A password change logs the session out on both sides.
    user.password = "pbkdf2_sha256$1$x$y"
    assert not compat.session_hash_matches(data[compat.HASH_SESSION_KEY], user.password, KEY, [])


@pytest.mark.django_db
def test_a_session_written_by_the_port_logs_in_on_django(client, fixture_password_hash):
    """The port writes a django_session row; Django's middleware then sees the user as logged in."""
    import datetime

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    user = User.objects.create(username="port", email="port@example.com", password=fixture_password_hash)
    data = {
        compat.SESSION_KEY: str(user.pk),
        compat.BACKEND_SESSION_KEY: compat.MODEL_BACKEND,
        compat.HASH_SESSION_KEY: compat.session_auth_hash(user.password, KEY),
    }
    key = compat.new_session_key()
    Session.objects.create(
        session_key=key,
        session_data=compat.encode_session(data, KEY),
        expire_date=timezone.now() + datetime.timedelta(days=1),
    )
    with override_settings(SECRET_KEY=KEY, SECRET_KEY_FALLBACKS=[]):
        client.cookies["sessionid"] = key
        response = client.get("/api/users/me/")
    assert response.status_code == 200, response.content
    assert response.json()["username"] == "port"
