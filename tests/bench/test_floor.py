"""The floor answers the benchmarked requests with the legacy's JSON, from the same rows.

If it did not, the floor would be measuring something cheaper than the real API.
"""

from __future__ import annotations

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.hashers import check_password
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from bench_demo import floor
from cutover.dburl import database_url_from_env
from legacy_django.users.models import User

pytestmark = pytest.mark.django_db(transaction=True)  # the floor reads over its own connections


@pytest.fixture
def people(make_user):
    users = [make_user(username=f"member{n:02d}", email=f"m{n:02d}@Example.com", is_active=n % 5 != 0)
             for n in range(45)]  # fmt: skip
    users.append(
        make_user(username="percent", email="p@example.com", first_name="100%", last_name="lit_eral")
    )
    users.append(make_user(username="zoe", email="ZOE@Example.com", first_name="Zoë", last_name="Ørsted"))
    return users


@pytest.fixture
def token(people) -> str:
    return Token.objects.create(user=people[0]).key


@pytest.fixture
async def floor_client(monkeypatch):
    url = database_url_from_env()
    assert url is not None
    # The floor's lifespan opens its pool on DATABASE_URL: point it at pytest-django's test database.
    monkeypatch.setenv("DATABASE_URL", url.with_name(connection.settings_dict["NAME"]).libpq())
    async with floor.lifespan(floor.app):
        transport = httpx.ASGITransport(app=floor.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@sync_to_async
def legacy(method: str, path: str, data=None, token: str | None = None, **extra):
    """The same request to the legacy (DRF's test client, in a thread: Django's ORM is synchronous)."""
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    try:
        return getattr(client, method)(path, data, format="json" if method == "post" else None, **extra)
    finally:
        connection.close()  # this worker thread's connection would otherwise outlive the test database


def _stored_password(username: str) -> str:
    try:
        return User.objects.get(username=username).password
    finally:
        connection.close()


async def test_detail_is_the_legacy_json(floor_client, token, people):
    for user in (people[0], people[-1], people[5]):  # plain, non-ASCII names, inactive
        ours = await floor_client.get(f"/api/users/{user.pk}/", headers={"Authorization": f"Token {token}"})
        theirs = await legacy("get", f"/api/users/{user.pk}/", token=token)
        assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())
        assert ours.headers["content-type"] == theirs["Content-Type"] == "application/json"
    missing = await floor_client.get("/api/users/999999/", headers={"Authorization": f"Token {token}"})
    theirs = await legacy("get", "/api/users/999999/", token=token)
    assert (missing.status_code, missing.json()) == (theirs.status_code, theirs.json())


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"page": "2"},
        {"page": "3", "search": "member"},
        {"search": "MEMBER1", "page": "1"},
        {"search": "zoë ørsted"},
        {"search": "%"},
        {"search": "_"},
        {"search": "example.com", "page_size": "7", "page": "4"},
        {"page": "99"},
        {"page": "last", "search": "m"},
    ],
)
async def test_search_pages_are_the_legacy_json(floor_client, token, query):
    ours = await floor_client.get("/api/users/", params=query, headers={"Authorization": f"Token {token}"})
    theirs = await legacy("get", "/api/users/", query, token=token)
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())


@pytest.mark.parametrize("path", ["/api/users/", "/api/users/{pk}/", "/api/users/999999/"])
@pytest.mark.parametrize("header", [None, "Token nope", "Bearer x", "Token a b", "Token", "token  "])
async def test_authentication_failures_are_the_legacy_answers(floor_client, people, header, path):
    # On the detail too, where the token and the user are read in one statement: the 401 comes first.
    path = path.format(pk=people[0].pk)
    headers = {"Authorization": header} if header else {}
    ours = await floor_client.get(path, headers=headers)
    theirs = await legacy("get", path, **({"HTTP_AUTHORIZATION": header} if header else {}))
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())
    assert ours.headers.get("www-authenticate") == theirs.get("WWW-Authenticate")


async def test_signup_stores_a_django_password_and_answers_like_the_legacy(floor_client, people):
    body = {"username": "newbie", "email": "newbie@EXAMPLE.org", "password": "Bench-pass-2026!",
            "first_name": "Né", "last_name": "Wbie"}  # fmt: skip
    ours = await floor_client.post("/api/users/", json=body)
    assert ours.status_code == 201
    theirs = await legacy("post", "/api/users/", {**body, "username": "newbie2", "email": "newbie2@EXAMPLE.org"})  # fmt: skip
    assert theirs.status_code == 201
    a, b = ours.json(), theirs.json()
    assert list(a) == list(b)
    assert {k: v for k, v in a.items() if k not in {"id", "username", "email", "date_joined"}} == {
        k: v for k, v in b.items() if k not in {"id", "username", "email", "date_joined"}
    }
    assert a["email"] == "newbie@example.org"  # the domain lower-cased, as normalize_email does
    stored = await sync_to_async(_stored_password)("newbie")
    assert stored.startswith("pbkdf2_sha256$1000000$")
    assert check_password("Bench-pass-2026!", stored)
    again = await floor_client.post("/api/users/", json={**body, "email": "NEWBIE@example.org"})
    assert again.status_code == 400
    assert again.json() == {
        "username": ["A user with that username already exists."],
        "email": ["A user with that email already exists."],
    }
