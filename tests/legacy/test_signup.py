"""POST /api/users/: open sign-up with Django's password validators."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password

from legacy_django.users.models import User

URL = "/api/users/"


def payload(**overrides):
    data = {
        "username": "newcomer",
        "email": "newcomer@example.com",
        "password": "a-long-unusual-passphrase-42",
        "first_name": "New",
        "last_name": "Comer",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_signup_creates_user_and_hides_password(api_client):
    response = api_client.post(URL, payload(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id", "username", "email", "first_name", "last_name", "is_active", "is_staff", "date_joined", "last_login",
    }  # fmt: skip
    assert body["username"] == "newcomer"
    assert body["is_active"] is True and body["is_staff"] is False and body["last_login"] is None
    assert body["date_joined"].endswith("Z")
    user = User.objects.get(pk=body["id"])
    assert user.password.startswith("pbkdf2_sha256$1000000$")
    assert check_password("a-long-unusual-passphrase-42", user.password)
    assert not user.is_superuser


@pytest.mark.django_db
def test_signup_stores_empty_names_as_empty_strings(api_client):
    response = api_client.post(URL, payload(first_name="", last_name=None) | {}, format="json")
    # last_name=None is not allowed (the column is NOT NULL and DRF maps it to allow_null=False)
    assert response.status_code == 400
    assert response.json() == {"last_name": ["This field may not be null."]}
    data = payload()
    del data["first_name"], data["last_name"]
    response = api_client.post(URL, data, format="json")
    assert response.status_code == 201
    assert response.json()["first_name"] == "" and response.json()["last_name"] == ""
    assert User.objects.get(username="newcomer").first_name == ""


@pytest.mark.django_db
def test_signup_requires_fields(api_client):
    response = api_client.post(URL, {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "username": ["This field is required."],
        "email": ["This field is required."],
        "password": ["This field is required."],
    }
    assert User.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "This password is too short. It must contain at least 8 characters."),
        ("password123", "This password is too common."),
        ("8302946175", "This password is entirely numeric."),
        ("newcomer1", "The password is too similar to the username."),
    ],
)
def test_signup_runs_django_password_validators(api_client, password, message):
    response = api_client.post(URL, payload(password=password), format="json")
    assert response.status_code == 400
    assert message in response.json()["password"]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_duplicate_email_in_any_case_is_rejected_without_a_row(api_client, make_user):
    make_user(username="first", email="Taken@Example.com")
    response = api_client.post(URL, payload(email="taken@example.COM"), format="json")
    assert response.status_code == 400
    assert response.json() == {"email": ["A user with that email already exists."]}
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_duplicate_username_is_rejected(api_client, make_user):
    make_user(username="newcomer", email="someone-else@example.com")
    response = api_client.post(URL, payload(), format="json")
    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}


@pytest.mark.django_db
def test_the_database_enforces_case_insensitive_email_uniqueness(make_user):
    from django.db import IntegrityError, transaction

    make_user(username="one", email="same@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="two", email="SAME@example.com", password="!")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "Enter a valid email address."),
        (
            "username",
            "has space",
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
        ),
        ("username", "x" * 151, "Ensure this field has no more than 150 characters."),
        ("first_name", "y" * 151, "Ensure this field has no more than 150 characters."),
        ("username", 123, None),
        ("email", ["a@b.c"], "Enter a valid email address."),
        ("password", {"nested": 1}, "Not a valid string."),
    ],
)
def test_field_validation_errors(api_client, field, value, message):
    response = api_client.post(URL, payload(**{field: value}), format="json")
    if message is None:  # DRF coerces numbers to strings for CharField; 123 is a valid username
        assert response.status_code == 201
        return
    assert response.status_code == 400, response.content
    assert message in response.json()[field]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_read_only_fields_are_ignored_on_signup(api_client):
    response = api_client.post(URL, payload(is_staff=True, is_active=False, id=999), format="json")
    assert response.status_code == 201
    user = User.objects.get(username="newcomer")
    assert user.is_staff is False and user.is_active is True and user.pk != 999


@pytest.mark.django_db
def test_unknown_fields_are_ignored(api_client):
    response = api_client.post(URL, payload(favourite_colour="teal"), format="json")
    assert response.status_code == 201
    assert "favourite_colour" not in response.json()


@pytest.mark.django_db
def test_malformed_json_is_a_400(api_client):
    response = api_client.post(URL, data='{"username": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_non_object_json_is_a_400(api_client):
    response = api_client.post(URL, data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}


@pytest.mark.django_db
def test_unsupported_media_type_is_a_415(api_client):
    response = api_client.post(URL, data="username=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json() == {
        "detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'
    }


@pytest.mark.django_db
def test_html_accept_is_not_acceptable(api_client):
    response = api_client.get(URL, HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json() == {"detail": "Could not satisfy the request Accept header."}
