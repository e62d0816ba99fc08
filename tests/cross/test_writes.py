"""Writes through either app leave rows the other app (and Django itself) cannot tell apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from rest_framework.authtoken.models import Token

from legacy_django.users.models import User
from tests.conftest import FIXTURE_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

JSON = "application/json"
PASSWORD = "a-long-unusual-passphrase-42"


def signup(client, username: str, **extra) -> object:
    body = {"username": username, "email": f"{username}@Example.COM", "password": PASSWORD, **extra}
    if isinstance(client, Client):
        return client.post("/api/users/", json.dumps(body), content_type=JSON)
    return client.post("/api/users/", content=json.dumps(body), headers={"Content-Type": JSON})


def row(username: str) -> dict:
    return User.objects.filter(username=username).values().get()


def test_signup_rows_are_indistinguishable(legacy_client, modern_client):
    before = datetime.now(UTC)
    old = signup(legacy_client, "viadjango", first_name="Émile")
    new = signup(modern_client, "viafastapi", first_name="Émile")
    assert old.status_code == new.status_code == 201
    legacy_row, modern_row = row("viadjango"), row("viafastapi")
    # Columns that must differ between two users: identity, names, salted hash, sign-up instant.
    for r in (legacy_row, modern_row):
        del r["id"], r["username"]
    assert (
        legacy_row.pop("email") == "viadjango@example.com"
        and modern_row.pop("email") == "viafastapi@example.com"
    )
    password = modern_row.pop("password")
    assert password.startswith("pbkdf2_sha256$1000000$") and check_password(PASSWORD, password)
    assert legacy_row.pop("password").startswith("pbkdf2_sha256$1000000$")
    assert before <= legacy_row.pop("date_joined") <= modern_row.pop("date_joined") <= datetime.now(UTC)
    assert modern_row == legacy_row == {
        "last_login": None, "is_superuser": False, "first_name": "Émile", "last_name": "",
        "is_staff": False, "is_active": True,
    }  # fmt: skip
    # The response bodies differ only in the values of those rows.
    assert set(new.json()) == set(old.json())
    assert new.json()["date_joined"].endswith("Z")


def test_user_created_by_fastapi_logs_in_through_django(modern_client):
    assert signup(modern_client, "crosser").status_code == 201
    assert Client().login(username="crosser", password=PASSWORD)
    token = Client().post(
        "/api/auth/token/", {"username": "crosser", "password": PASSWORD}, content_type=JSON
    )
    assert token.status_code == 200


def test_user_created_by_django_logs_in_through_fastapi(legacy_client, modern_client):
    assert signup(legacy_client, "crosser").status_code == 201
    response = modern_client.post("/api/auth/token/", json={"username": "crosser", "password": PASSWORD})
    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user__username="crosser").key == key
    # Get-or-create: Django now returns the same token, and it authenticates on Django.
    again = legacy_client.post(
        "/api/auth/token/", {"username": "crosser", "password": PASSWORD}, content_type=JSON
    )
    assert again.json() == {"token": key}
    assert (
        legacy_client.get("/api/users/me/", HTTP_AUTHORIZATION=f"Token {key}").json()["username"] == "crosser"
    )


def test_token_from_django_works_on_fastapi(make_user, legacy_client, modern_client):
    make_user(username="alice", email="alice@example.com")
    key = legacy_client.post(
        "/api/auth/token/", {"username": "alice", "password": FIXTURE_PASSWORD}, content_type=JSON
    ).json()["token"]
    response = modern_client.get("/api/users/me/", headers={"Authorization": f"Token {key}"})
    assert response.status_code == 200 and response.json()["username"] == "alice"
    assert modern_client.post(
        "/api/auth/token/", data={"username": "alice", "password": FIXTURE_PASSWORD}
    ).json() == {"token": key}
    assert Token.objects.count() == 1


def test_token_login_does_not_touch_last_login(make_user, modern_client):
    alice = make_user(username="alice", email="alice@example.com")
    modern_client.post("/api/auth/token/", json={"username": "alice", "password": FIXTURE_PASSWORD})
    alice.refresh_from_db()
    assert alice.last_login is None


@pytest.mark.parametrize("app", ["legacy", "modern"])
def test_login_rehashes_an_outdated_hash_like_django(make_user, legacy_client, modern_client, app):
    weak = PBKDF2PasswordHasher().encode(FIXTURE_PASSWORD, "weaksaltweaksaltweak12", iterations=1000)
    alice = make_user(username="alice", email="alice@example.com", password=weak)
    client = legacy_client if app == "legacy" else modern_client
    if app == "legacy":
        response = client.post(
            "/api/auth/token/", {"username": "alice", "password": FIXTURE_PASSWORD}, content_type=JSON
        )
    else:
        response = client.post("/api/auth/token/", json={"username": "alice", "password": FIXTURE_PASSWORD})
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.password.startswith("pbkdf2_sha256$1000000$")
    assert check_password(FIXTURE_PASSWORD, alice.password)


def test_wrong_password_rewrites_nothing(make_user, modern_client):
    weak = PBKDF2PasswordHasher().encode(FIXTURE_PASSWORD, "weaksaltweaksaltweak12", iterations=1000)
    alice = make_user(username="alice", email="alice@example.com", password=weak)
    response = modern_client.post("/api/auth/token/", json={"username": "alice", "password": "nope"})
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.password == weak and not Token.objects.exists()


def _decorate(user) -> None:
    """Rows that point at ``user`` and that Django's ORM deletes with it."""
    Token.objects.create(user=user)
    group = Group.objects.create(name=f"g-{user.username}")
    user.groups.add(group)
    user.user_permissions.add(Permission.objects.first())
    LogEntry.objects.create(
        user=user, content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk),
        object_repr=user.username, action_flag=ADDITION, change_message="[]",
    )  # fmt: skip


def _traces(user_id: int) -> dict[str, int]:
    return {
        "users": User.objects.filter(pk=user_id).count(),
        "tokens": Token.objects.filter(user_id=user_id).count(),
        "groups": User.groups.through.objects.filter(user_id=user_id).count(),
        "permissions": User.user_permissions.through.objects.filter(user_id=user_id).count(),
        "admin_log": LogEntry.objects.filter(user_id=user_id).count(),
    }


def test_delete_cascades_like_djangos_orm(make_user, legacy_client, modern_client):
    boss = make_user(username="boss", email="boss@example.com", is_staff=True)
    key = Token.objects.create(user=boss).key
    one, two = (
        make_user(username="one", email="1@example.com"),
        make_user(username="two", email="2@example.com"),
    )
    for user in (one, two):
        _decorate(user)
        assert set(_traces(user.pk).values()) == {1}
    assert legacy_client.delete(f"/api/users/{one.pk}/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 204
    response = modern_client.delete(f"/api/users/{two.pk}/", headers={"Authorization": f"Token {key}"})
    assert response.status_code == 204 and response.content == b""
    assert _traces(one.pk) == _traces(two.pk) == dict.fromkeys(_traces(one.pk), 0)
    assert Group.objects.count() == 2  # groups themselves stay, as in Django


def test_patch_by_fastapi_is_what_django_reads(make_user, modern_client, legacy_client):
    alice = make_user(username="alice", email="alice@example.com")
    key = Token.objects.create(user=alice).key
    auth = {"Authorization": f"Token {key}"}
    response = modern_client.patch(
        f"/api/users/{alice.pk}/",
        json={"first_name": "  Alicia ", "email": "Alice@EXAMPLE.org", "is_staff": True},
        headers=auth,
    )
    assert response.status_code == 200
    legacy_view = legacy_client.get(f"/api/users/{alice.pk}/", HTTP_AUTHORIZATION=f"Token {key}")
    assert legacy_view.content == modern_client.get(f"/api/users/{alice.pk}/", headers=auth).content
    assert legacy_view.json()["first_name"] == "Alicia" and legacy_view.json()["email"] == "Alice@example.org"
    assert legacy_view.json()["is_staff"] is False


def _session_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client, client.cookies["sessionid"].value


def test_password_changed_through_fastapi_ends_django_sessions(make_user, modern_client):
    alice = make_user(username="alice", email="alice@example.com")
    key = Token.objects.create(user=alice).key
    django_browser, _ = _session_client(alice)
    assert django_browser.get("/api/users/me/").status_code == 200
    response = modern_client.patch(
        f"/api/users/{alice.pk}/",
        json={"password": "another-fine-passphrase"},
        headers={"Authorization": f"Token {key}"},
    )
    assert response.status_code == 200
    assert django_browser.get("/api/users/me/").status_code == 401
    assert Client().login(username="alice", password="another-fine-passphrase")


def test_password_changed_through_django_ends_fastapi_sessions(make_user, legacy_client, modern_client):
    alice = make_user(username="alice", email="alice@example.com")
    key = Token.objects.create(user=alice).key
    _, sessionid = _session_client(alice)
    cookie = {"Cookie": f"sessionid={sessionid}"}
    assert modern_client.get("/api/users/me/", headers=cookie).status_code == 200
    response = legacy_client.patch(
        f"/api/users/{alice.pk}/", json.dumps({"password": "another-fine-passphrase"}), content_type=JSON,
        HTTP_AUTHORIZATION=f"Token {key}",
    )  # fmt: skip
    assert response.status_code == 200
    refused = modern_client.get("/api/users/me/", headers=cookie)
    assert refused.status_code == 401
    # Like Django's get_user: the session row is flushed and the cookie deleted.
    assert 'sessionid=""' in refused.headers["set-cookie"]
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=sessionid).exists()


def test_session_cookie_from_django_authorizes_unsafe_requests_with_csrf(make_user, modern_client, csrf_pair):
    alice = make_user(username="alice", email="alice@example.com")
    _, sessionid = _session_client(alice)
    secret, masked = csrf_pair
    headers = {"Cookie": f"sessionid={sessionid}; csrftoken={secret}", "X-CSRFToken": masked}
    response = modern_client.patch(f"/api/users/{alice.pk}/", json={"last_name": "Liddell"}, headers=headers)
    assert response.status_code == 200, response.text
    alice.refresh_from_db()
    assert alice.last_name == "Liddell"


def test_expired_session_is_refused_by_both(make_user, legacy_client, modern_client):
    from django.contrib.sessions.models import Session

    alice = make_user(username="alice", email="alice@example.com")
    _, sessionid = _session_client(alice)
    Session.objects.filter(session_key=sessionid).update(expire_date=datetime.now(UTC) - timedelta(seconds=1))
    legacy_client.cookies["sessionid"] = sessionid
    assert legacy_client.get("/api/users/me/").status_code == 401
    assert (
        modern_client.get("/api/users/me/", headers={"Cookie": f"sessionid={sessionid}"}).status_code == 401
    )


def test_session_signed_with_a_fallback_secret_is_cycled_like_django(make_user, settings, modern_settings):
    from django.contrib.sessions.models import Session

    from fastapi_app.main import create_app
    from tests.cross.testclient import TestClient

    alice = make_user(username="alice", email="alice@example.com")
    old_secret = settings.SECRET_KEY
    _, sessionid = _session_client(alice)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-brand-new-secret-key-for-the-test", [old_secret]
    rotated = modern_settings.model_copy(
        update={"SECRET_KEY": settings.SECRET_KEY, "SECRET_KEY_FALLBACKS": [old_secret]}
    )
    with TestClient(create_app(rotated), base_url="http://testserver") as client:
        response = client.get("/api/users/me/", headers={"Cookie": f"sessionid={sessionid}"})
    assert response.status_code == 200
    new_key = response.cookies["sessionid"]
    assert new_key != sessionid
    assert not Session.objects.filter(session_key=sessionid).exists()
    # Django, now on the new secret, accepts the cycled session FastAPI wrote.
    django_browser = Client()
    django_browser.cookies["sessionid"] = new_key
    assert django_browser.get("/api/users/me/").json()["username"] == "alice"
