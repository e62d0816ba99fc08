"""POST /api/users/ on the FastAPI app: sign-up, DRF's validation messages, parse errors."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password

from legacy_django.users.models import User
from tests.modern.conftest import orm

pytestmark = pytest.mark.django_db(transaction=True)


def payload(**overrides):
    data = {
        "username": "newcomer",
        "email": "newcomer@EXAMPLE.com",
        "password": "a-long-unusual-passphrase-42",
    }
    return data | overrides


async def test_signup_writes_every_default_django_writes(modern):
    response = await modern.post("/api/users/", json=payload(first_name=" New "))
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "newcomer@example.com" and body["first_name"] == "New" and body["last_name"] == ""
    assert body["date_joined"].endswith("Z") and body["last_login"] is None
    user = await orm(User.objects.get, pk=body["id"])
    assert (user.is_active, user.is_staff, user.is_superuser, user.last_login) == (True, False, False, None)
    assert user.password.startswith("pbkdf2_sha256$1000000$")
    assert check_password("a-long-unusual-passphrase-42", user.password)


async def test_required_fields(modern):
    response = await modern.post("/api/users/", json={})
    assert response.status_code == 400
    assert response.json() == {
        "username": ["This field is required."],
        "email": ["This field is required."],
        "password": ["This field is required."],
    }


@pytest.mark.parametrize(
    ("field", "value", "messages"),
    [
        ("email", "not-an-email", ["Enter a valid email address."]),
        ("username", "has space", [
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
        ]),
        ("username", "x" * 151, ["Ensure this field has no more than 150 characters."]),
        ("username", True, ["Not a valid string."]),
        ("last_name", None, ["This field may not be null."]),
        ("username", "  ", ["This field may not be blank."]),
        ("password", "password123", ["This password is too common."]),
        ("password", "8302946175", ["This password is entirely numeric."]),
    ],
)  # fmt: skip
async def test_field_errors(modern, field, value, messages):
    response = await modern.post("/api/users/", json=payload(**{field: value}))
    assert response.status_code == 400
    assert response.json() == {field: messages}
    assert not await orm(User.objects.exists)


async def test_numbers_are_strings_like_drf(modern):
    response = await modern.post("/api/users/", json=payload(username=123))
    assert response.status_code == 201 and response.json()["username"] == "123"


async def test_duplicates_in_any_case(modern, make_user):
    await orm(make_user, username="first", email="Taken@Example.com")
    response = await modern.post("/api/users/", json=payload(email="taken@example.COM"))
    assert response.json() == {"email": ["A user with that email already exists."]}
    response = await modern.post("/api/users/", json=payload(username="first", email="other@example.com"))
    assert response.json() == {"username": ["A user with that username already exists."]}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "expected"),
    [
        (b'{"username": ', "application/json", 400, None),
        (b"[1, 2]", "application/json", 400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        (b"null", "application/json", 400, {"non_field_errors": ["No data provided"]}),
        (b"username=x", "application/x-www-form-urlencoded", 415,
         {"detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'}),
        (b"{}", "", 415, {"detail": 'Unsupported media type "" in request.'}),
    ],
)  # fmt: skip
async def test_bodies_drf_refuses(modern, body, content_type, status, expected):
    response = await modern.post("/api/users/", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    if expected is None:
        assert response.json()["detail"].startswith("JSON parse error - ")
    else:
        assert response.json() == expected


async def test_read_only_and_unknown_fields_are_ignored(modern):
    response = await modern.post("/api/users/", json=payload(is_staff=True, id=999, colour="teal"))
    assert response.status_code == 201 and "colour" not in response.json()
    user = await orm(User.objects.get, username="newcomer")
    assert user.is_staff is False and user.pk != 999


async def test_deeply_nested_json_is_a_parse_error_not_a_500(modern):
    # The legacy's hardened JSONParser turns json's RecursionError into DRF's ParseError.
    response = await modern.post(
        "/api/users/", content=b"[" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - maximum recursion depth exceeded")
