"""fastapi_app.compat.password_validation against Django's validate_password with the legacy's validators."""

from __future__ import annotations

import gzip
from pathlib import Path

import django.contrib.auth
import pytest
from django.conf import settings as dj_settings
from django.contrib.auth import password_validation as dj
from django.core.exceptions import ValidationError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fastapi_app.compat import password_validation as compat
from legacy_django.users.models import User

ATTRS = ("username", "first_name", "last_name", "email")


def django_messages(password: str, attrs: dict[str, str] | None) -> list[str]:
    user = None if attrs is None else User(**attrs)
    try:
        dj.validate_password(password, user)
    except ValidationError as exc:
        return list(exc.messages)
    return []


def test_the_legacy_runs_djangos_four_default_validators():
    names = [v["NAME"].rsplit(".", 1)[1] for v in dj_settings.AUTH_PASSWORD_VALIDATORS]
    assert names == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
    assert all("OPTIONS" not in v for v in dj_settings.AUTH_PASSWORD_VALIDATORS)


def test_verbose_names_are_the_models():
    for name in ATTRS:
        assert compat.VERBOSE_NAMES[name] == str(User._meta.get_field(name).verbose_name)


def test_common_password_list_is_djangos():
    django_list = Path(django.contrib.auth.__file__).parent / "common-passwords.txt.gz"
    with gzip.open(django_list, "rt", encoding="utf-8") as f:
        assert compat.common_passwords() == {line.strip() for line in f}
    assert len(compat.common_passwords()) > 19_000


@pytest.mark.parametrize(
    ("password", "attrs"),
    [
        ("", {}),
        ("short", None),
        ("1234567", None),
        ("12345678", None),
        ("password", None),
        ("  PassWord  ", None),
        ("correct horse battery staple", None),
        ("alice-liddell", {"username": "alice", "first_name": "Alice", "last_name": "Liddell"}),
        ("liddell1", {"username": "al", "last_name": "Liddell"}),
        ("alice@example.com", {"email": "alice@example.com"}),
        ("examplecom", {"email": "alice@example.com"}),
        ("ALICE", {"username": "alice"}),
        ("Zoë-Ünïcode", {"first_name": "Zoë", "last_name": "Ünïcode"}),
        ("x" * 70 + "bob", {"username": "bob"}),  # the length-ratio shortcut
        ("demo-password-123", {"username": "demo", "email": "demo@example.com"}),
        ("99999999", {"username": "99999999"}),
        ("qwerty12", {"username": "", "first_name": ""}),
        ("sesame-street", {"username": "sesame_street"}),  # \W+ does not split on "_"
    ],
)
def test_messages_equal_djangos(password, attrs):
    assert compat.validate_password(password, attrs) == django_messages(password, attrs)


def test_all_four_messages_in_djangos_order():
    messages = compat.validate_password("1234", {"username": "1234"})
    assert messages == django_messages("1234", {"username": "1234"})
    assert messages == [
        "The password is too similar to the username.",
        "This password is too short. It must contain at least 8 characters.",
        "This password is too common.",
        "This password is entirely numeric.",
    ]


common = st.sampled_from(sorted(compat.common_passwords())[:2000])
passwords = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="0123456789", max_size=12),
    common,
    common.map(str.upper),
    common.map(lambda p: f" {p} "),
)
names = st.one_of(st.text(max_size=15), st.from_regex(r"[a-z]{1,8}([._@ -][a-z]{1,8}){0,3}", fullmatch=True))
attributes = st.none() | st.fixed_dictionaries({}, optional={name: names for name in ATTRS})


@settings(max_examples=400, deadline=None)
@given(password=passwords, attrs=attributes)
@example(password="bob.smith1", attrs={"email": "bob.smith@example.com"})
def test_property_messages_equal_djangos(password, attrs):
    assert compat.validate_password(password, attrs) == django_messages(password, attrs)


@settings(max_examples=200, deadline=None)
@given(attrs=st.fixed_dictionaries({name: names for name in ATTRS}), data=st.data())
def test_property_passwords_derived_from_attributes(attrs, data):
    # Passwords built from the attributes themselves sit near the 0.7 similarity boundary.
    source = attrs[data.draw(st.sampled_from(ATTRS))]
    password = data.draw(
        st.sampled_from([source, source[::-1], source + "12", source[:-1], source.upper() + "!x"])
    )
    assert compat.validate_password(password, attrs) == django_messages(password, attrs)


def test_the_comparison_catches_a_real_difference(monkeypatch):
    # With a slightly different threshold the port disagrees with Django on a boundary case.
    attrs = {"username": "abcdefgh"}
    password = "abcdefgxyz"  # quick_ratio = 14/18 = 0.78: too similar at 0.7, fine at 0.8
    assert compat.validate_password(password, attrs) == django_messages(password, attrs)
    monkeypatch.setattr(compat, "MAX_SIMILARITY", 0.8)
    assert compat.validate_password(password, attrs) != django_messages(password, attrs)
