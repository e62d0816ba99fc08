"""Token and session authentication, DRF's CSRF rules, and the obtain-token view."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.conftest import FIXTURE_PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"


def test_obtain_token_is_get_or_create(api_client, alice):
    first = api_client.post(TOKEN_URL, {"username": "alice", "password": FIXTURE_PASSWORD}, format="json")
    assert first.status_code == 200
    key = first.json()["token"]
    assert len(key) == 40 and Token.objects.get(user=alice).key == key
    second = api_client.post(TOKEN_URL, {"username": "alice", "password": FIXTURE_PASSWORD}, format="json")
    assert second.json() == {"token": key}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"username": "alice", "password": "wrong"},
            {"non_field_errors": ["Unable to log in with provided credentials."]},
        ),
        (
            {"username": "nobody", "password": "x"},
            {"non_field_errors": ["Unable to log in with provided credentials."]},
        ),
        ({"username": "alice"}, {"password": ["This field is required."]}),
        ({}, {"username": ["This field is required."], "password": ["This field is required."]}),
    ],
)
def test_obtain_token_errors(api_client, alice, data, expected):
    response = api_client.post(TOKEN_URL, data, format="json")
    assert response.status_code == 400
    assert response.json() == expected


def test_inactive_user_gets_no_token(api_client, make_user):
    make_user(username="sleeper", email="sleeper@example.com", is_active=False)
    response = api_client.post(
        TOKEN_URL, {"username": "sleeper", "password": FIXTURE_PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_obtain_token_accepts_form_bodies(api_client, alice):
    # ObtainAuthToken declares its own parsers (form, multipart, JSON), unlike the rest of the API.
    response = api_client.post(TOKEN_URL, {"username": "alice", "password": FIXTURE_PASSWORD})
    assert response.status_code == 200


def test_obtain_token_rejects_get(api_client):
    response = api_client.get(TOKEN_URL)
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "GET" not allowed.'}


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Token", "Invalid token header. No credentials provided."),
        ("Token a b", "Invalid token header. Token string should not contain spaces."),
        ("Token " + "0" * 40, "Invalid token."),
    ],
)
def test_bad_token_headers(api_client, header, detail):
    response = api_client.get("/api/users/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": detail}


def test_token_of_inactive_user_is_refused(api_client, make_user, token_for):
    sleeper = make_user(username="sleeper", email="sleeper@example.com", is_active=False)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(sleeper)}")
    response = api_client.get("/api/users/")
    assert response.status_code == 401
    assert response.json() == {"detail": "User inactive or deleted."}


def test_other_authorization_schemes_fall_through_to_anonymous(api_client):
    response = api_client.get("/api/users/", HTTP_AUTHORIZATION="Bearer abc")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.fixture
def session_client(alice) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


def test_session_authenticates_safe_requests(session_client):
    response = session_client.get("/api/users/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_session_unsafe_request_without_csrf_is_403(session_client, alice):
    response = session_client.patch(
        f"/api/users/{alice.pk}/", {"first_name": "X"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "CSRF Failed: CSRF cookie not set."}


def test_session_unsafe_request_with_csrf_token_succeeds(session_client, alice):
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

    secret = _get_new_csrf_string()
    session_client.cookies["csrftoken"] = secret
    response = session_client.patch(
        f"/api/users/{alice.pk}/",
        {"first_name": "Via session"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=_mask_cipher_secret(secret),
    )
    assert response.status_code == 200, response.content
    assert response.json()["first_name"] == "Via session"


def test_session_with_wrong_csrf_token_is_403(session_client, alice):
    from django.middleware.csrf import _get_new_csrf_string

    session_client.cookies["csrftoken"] = _get_new_csrf_string()
    response = session_client.patch(
        f"/api/users/{alice.pk}/", {"first_name": "X"}, content_type="application/json",
        HTTP_X_CSRFTOKEN=_get_new_csrf_string(),
    )  # fmt: skip
    assert response.status_code == 403
    assert response.json() == {
        "detail": "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect."
    }


def test_password_change_ends_sessions(session_client, alice):
    alice.set_password("a-brand-new-passphrase")
    alice.save()
    response = session_client.get("/api/users/me/")
    assert response.status_code == 401


def test_tampered_session_cookie_is_anonymous(session_client):
    key = session_client.cookies["sessionid"].value
    session_client.cookies["sessionid"] = key[:-1] + ("y" if key[-1] == "x" else "x")
    assert session_client.get("/api/users/me/").status_code == 401
