"""/api/users/{id}/ and /api/users/me/ on the FastAPI app."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password
from rest_framework.authtoken.models import Token

from fastapi_app import queries
from legacy_django.users.models import User
from tests.modern.conftest import orm

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(make_user):
    return make_user(username="alice", email="alice@example.com", first_name="Alice", last_name="Liddell")


@pytest.fixture
def mallory(make_user):
    return make_user(username="mallory", email="mallory@example.com")


async def test_read_anyone_rendered_like_drf(modern, alice, mallory, auth_header):
    response = await modern.get(f"/api/users/{alice.pk}/", headers=await auth_header(mallory))
    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk, "username": "alice", "email": "alice@example.com", "first_name": "Alice",
        "last_name": "Liddell", "is_active": True, "is_staff": False,
        "date_joined": alice.date_joined.isoformat().replace("+00:00", "Z"), "last_login": None,
    }  # fmt: skip
    assert response.headers["allow"] == "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"


@pytest.mark.parametrize(
    ("pk", "detail"), [("999999", "No User matches the given query."), ("abc", "Not found.")]
)
async def test_unknown_user_is_404(modern, alice, auth_header, pk, detail):
    response = await modern.get(f"/api/users/{pk}/", headers=await auth_header(alice))
    assert response.status_code == 404 and response.json() == {"detail": detail}


async def test_filters_apply_to_detail_like_drf_get_object(modern, alice, auth_header):
    response = await modern.get(f"/api/users/{alice.pk}/?is_active=false", headers=await auth_header(alice))
    assert response.status_code == 404


async def test_patch_self_and_forbidden_for_others(modern, alice, mallory, auth_header):
    ok = await modern.patch(
        f"/api/users/{alice.pk}/", json={"first_name": "Alicia"}, headers=await auth_header(alice)
    )
    assert ok.status_code == 200 and ok.json()["first_name"] == "Alicia"
    denied = await modern.patch(
        f"/api/users/{alice.pk}/", json={"first_name": "X"}, headers=await auth_header(mallory)
    )
    assert denied.status_code == 403
    assert denied.json() == {"detail": "You do not have permission to perform this action."}
    await orm(alice.refresh_from_db)
    assert alice.first_name == "Alicia"


async def test_put_requires_every_writable_field(modern, alice, auth_header):
    response = await modern.put(
        f"/api/users/{alice.pk}/", json={"username": "alice"}, headers=await auth_header(alice)
    )
    assert response.status_code == 400
    assert response.json() == {"email": ["This field is required."], "password": ["This field is required."]}


async def test_put_replaces_and_hashes_like_django(modern, alice, auth_header):
    data = {"username": "alice2", "email": "alice2@example.com", "password": "another-fine-passphrase"}
    response = await modern.put(f"/api/users/{alice.pk}/", json=data, headers=await auth_header(alice))
    assert response.status_code == 200
    await orm(alice.refresh_from_db)
    assert alice.username == "alice2" and alice.first_name == "Alice"
    assert alice.password.startswith("pbkdf2_sha256$1000000$")
    assert check_password("another-fine-passphrase", alice.password)


async def test_patch_password_validated_against_the_saved_user(modern, alice, auth_header):
    response = await modern.patch(
        f"/api/users/{alice.pk}/", json={"password": "alice"}, headers=await auth_header(alice)
    )
    assert response.status_code == 400
    assert response.json() == {
        "password": [
            "The password is too similar to the username.",
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",  # "alice" is in Django's list
        ]
    }


async def test_read_only_fields_cannot_be_escalated(modern, alice, auth_header):
    response = await modern.patch(
        f"/api/users/{alice.pk}/",
        json={"is_staff": True, "is_active": False},
        headers=await auth_header(alice),
    )
    assert response.status_code == 200
    await orm(alice.refresh_from_db)
    assert alice.is_staff is False and alice.is_active is True


async def test_delete_self(modern, alice, auth_header):
    headers = await auth_header(alice)
    response = await modern.delete(f"/api/users/{alice.pk}/", headers=headers)
    assert response.status_code == 204 and response.content == b""
    assert "content-type" not in response.headers
    assert not await orm(User.objects.filter(pk=alice.pk).exists)
    assert not await orm(Token.objects.filter(user_id=alice.pk).exists)


async def test_me(modern, alice, auth_header):
    response = await modern.get("/api/users/me/", headers=await auth_header(alice))
    assert response.status_code == 200 and response.json()["username"] == "alice"
    post = await modern.post("/api/users/me/", json={}, headers=await auth_header(alice))
    assert post.status_code == 405 and post.json() == {"detail": 'Method "POST" not allowed.'}
    assert post.headers["allow"] == "GET, HEAD, OPTIONS"
    assert (await modern.put("/api/users/me/", json={}, headers=await auth_header(alice))).status_code == 405
    assert (await modern.post("/api/users/me/", json={})).status_code == 401


# -- the token's user and the detail row in one round trip (fastapi_app.reads.ReadAhead) ------------------


@pytest.fixture
def statements(modern_app):
    """The statements the app's read pool runs, in order (the real pool, counted at its one entry point)."""
    reads = modern_app.state.reads
    run, seen = reads._run, []

    async def counted(method, statement, params):
        seen.append(statement)
        return await run(method, statement, params)

    reads._run = counted
    return seen


async def test_a_token_detail_read_is_one_statement(modern, alice, mallory, auth_header, statements):
    headers = await auth_header(mallory)
    statements.clear()
    found = await modern.get(f"/api/users/{alice.pk}/", headers=headers)
    assert found.status_code == 200 and found.json()["username"] == "alice"
    assert statements == [queries.token_user_and(None, 0)]
    missing = await modern.get("/api/users/999999/", headers=headers)
    assert missing.json() == {"detail": "No User matches the given query."}
    filtered = await modern.get(f"/api/users/{alice.pk}/?search=nobody", headers=headers)
    assert filtered.status_code == 404
    assert len(statements) == 3
    searched = await modern.get(f"/api/users/{alice.pk}/?search=lidd&is_active=true", headers=headers)
    assert searched.status_code == 200 and searched.json()["last_name"] == "Liddell"
    self_read = await modern.get(f"/api/users/{mallory.pk}/", headers=headers)
    assert self_read.json()["username"] == "mallory"  # the token's user and the row are the same user


@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999"])
async def test_authentication_still_fails_before_the_lookup(modern, pk, statements):
    # DRF's initial() runs before get_object: a bad token is a 401 whatever the row, never a 404.
    response = await modern.get(f"/api/users/{pk}/", headers={"Authorization": "Token " + "0" * 40})
    assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}


async def test_an_inactive_token_user_is_refused_though_the_row_was_read(
    modern, alice, mallory, auth_header, statements
):
    headers = await auth_header(mallory)
    mallory.is_active = False
    await orm(mallory.save)
    response = await modern.get(f"/api/users/{alice.pk}/", headers=headers)
    assert response.status_code == 401 and response.json() == {"detail": "User inactive or deleted."}
    assert len(statements) == 1


async def test_a_session_detail_read_reads_the_row_itself(modern, alice, django_session, statements):
    cookie = {"Cookie": f"sessionid={await orm(django_session, alice)}"}
    response = await modern.get(f"/api/users/{alice.pk}/", headers=cookie)
    assert response.status_code == 200 and response.json()["username"] == "alice"
    # No token lookup, so no read ahead: the session's user came from the ORM, the row from its own read.
    assert statements == [queries.user_by_id(None, 0)]
