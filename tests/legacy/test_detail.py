"""GET/PUT/PATCH/DELETE /api/users/{id}/ and GET /api/users/me/."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password
from rest_framework.authtoken.models import Token

from legacy_django.users.models import User

pytestmark = pytest.mark.django_db


def url(user_or_id) -> str:
    return f"/api/users/{getattr(user_or_id, 'pk', user_or_id)}/"


def test_read_requires_authentication(api_client, alice):
    response = api_client.get(url(alice))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_any_authenticated_user_reads_anyone(make_user, client_as, alice):
    client = client_as(make_user(username="carol", email="carol@example.com"))
    response = client.get(url(alice))
    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Liddell",
        "is_active": True,
        "is_staff": False,
        "date_joined": alice.date_joined.isoformat().replace("+00:00", "Z"),
        "last_login": None,
    }


@pytest.mark.parametrize(
    ("missing", "detail"),
    [
        ("999999", "No User matches the given query."),
        ("0", "No User matches the given query."),
        # A non-integer pk fails in int() inside DRF's get_object_or_404, which raises a bare Http404.
        ("abc", "Not found."),
    ],
)
def test_unknown_user_is_404(client_as, alice, missing, detail):
    response = client_as(alice).get(url(missing))
    assert response.status_code == 404
    assert response.json() == {"detail": detail}


def test_user_patches_self(client_as, alice):
    response = client_as(alice).patch(url(alice), {"first_name": "Alicia"}, format="json")
    assert response.status_code == 200
    assert response.json()["first_name"] == "Alicia"
    alice.refresh_from_db()
    assert alice.first_name == "Alicia"


def test_user_cannot_change_someone_else(make_user, client_as, alice):
    mallory = make_user(username="mallory", email="mallory@example.com")
    response = client_as(mallory).patch(url(alice), {"first_name": "Pwned"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    alice.refresh_from_db()
    assert alice.first_name == "Alice"
    assert client_as(mallory).delete(url(alice)).status_code == 403
    assert User.objects.filter(pk=alice.pk).exists()


def test_staff_changes_anyone(client_as, staff, alice):
    response = client_as(staff).patch(url(alice), {"last_name": "Pleasance"}, format="json")
    assert response.status_code == 200
    assert response.json()["last_name"] == "Pleasance"


def test_put_requires_every_writable_field(client_as, alice):
    response = client_as(alice).put(url(alice), {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "email": ["This field is required."],
        "password": ["This field is required."],
    }


def test_put_replaces_and_rehashes_password(client_as, alice):
    data = {
        "username": "alice2",
        "email": "alice2@example.com",
        "password": "another-fine-passphrase",
        "first_name": "",
        "last_name": "",
    }
    response = client_as(alice).put(url(alice), data, format="json")
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.username == "alice2" and alice.first_name == ""
    assert check_password("another-fine-passphrase", alice.password)


def test_patch_email_conflict_in_any_case(make_user, client_as, alice):
    make_user(username="other", email="Other@Example.com")
    response = client_as(alice).patch(url(alice), {"email": "OTHER@example.com"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"email": ["A user with that email already exists."]}


def test_patch_own_email_case_change_is_allowed(client_as, alice):
    response = client_as(alice).patch(url(alice), {"email": "ALICE@example.com"}, format="json")
    assert response.status_code == 200
    assert response.json()["email"] == "ALICE@example.com"


def test_patch_password_is_validated(client_as, alice):
    response = client_as(alice).patch(url(alice), {"password": "alice"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "password": [
            "The password is too similar to the username.",
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
        ]
    }


def test_patch_cannot_escalate(client_as, alice):
    response = client_as(alice).patch(url(alice), {"is_staff": True, "is_active": False}, format="json")
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.is_staff is False and alice.is_active is True


def test_delete_self_removes_user_and_token(client_as, alice):
    client = client_as(alice)
    response = client.delete(url(alice))
    assert response.status_code == 204
    assert response.content == b""
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not Token.objects.filter(user_id=alice.pk).exists()


def test_me(client_as, alice):
    response = client_as(alice).get("/api/users/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_me_requires_authentication(api_client):
    response = api_client.get("/api/users/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_me_is_read_only(client_as, alice):
    response = client_as(alice).post("/api/users/me/", {}, format="json")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}
    assert response["Allow"] == "GET, HEAD, OPTIONS"
