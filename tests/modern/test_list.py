"""GET /api/users/ on the FastAPI app: pagination links, search, filters, ordering."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reader(make_user):
    for n in range(45):
        make_user(username=f"member{n:02d}", email=f"m{n:02d}@example.com", is_active=n % 5 != 0)
    make_user(username="percent", email="p@example.com", first_name="100%", last_name="lit_eral")
    make_user(username="zoe", email="ZOE@Example.com", first_name="Zoë", last_name="Ørsted")
    user = make_user(username="reader", email="reader@example.com")
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


def names(response) -> list[str]:
    return [u["username"] for u in response.json()["results"]]


async def test_anonymous_is_401_with_token_challenge(modern):
    response = await modern.get("/api/users/")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


async def test_pages_and_absolute_links(modern, reader):
    first = await modern.get("/api/users/", headers=reader)
    assert first.headers["content-type"] == "application/json"
    body = first.json()
    assert body["count"] == 48 and body["previous"] is None and len(body["results"]) == 20
    assert body["next"] == "http://testserver/api/users/?page=2"
    ids = [u["id"] for u in body["results"]]
    assert ids == sorted(ids)
    second = (await modern.get("/api/users/?search=member&page=2", headers=reader)).json()
    assert second["previous"] == "http://testserver/api/users/?search=member"  # page 1 drops page=
    assert second["next"] == "http://testserver/api/users/?page=3&search=member"
    last = (await modern.get("/api/users/?page=last", headers=reader)).json()
    assert last["next"] is None and len(last["results"]) == 8


async def test_links_follow_forwarded_host_and_proto(modern, reader):
    headers = {**reader, "X-Forwarded-Host": "localhost:8000", "X-Forwarded-Proto": "https"}
    assert (await modern.get("/api/users/", headers=headers)).json()[
        "next"
    ] == "https://localhost:8000/api/users/?page=2"
    evil = await modern.get("/api/users/", headers={**reader, "X-Forwarded-Host": "evil.example.com"})
    assert evil.status_code == 400 and evil.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("page", ["0", "4", "abc", "-1", "1.5"])
async def test_invalid_pages_are_404(modern, reader, page):
    response = await modern.get(f"/api/users/?page={page}", headers=reader)
    assert response.status_code == 404 and response.json() == {"detail": "Invalid page."}


@pytest.mark.parametrize(
    ("size", "expected"), [("5", 5), ("100", 48), ("1000", 48), ("0", 20), ("-3", 20), ("x", 20)]
)
async def test_page_size(modern, reader, size, expected):
    assert (
        len((await modern.get(f"/api/users/?page_size={size}", headers=reader)).json()["results"]) == expected
    )


async def test_search(modern, reader):
    assert names(await modern.get("/api/users/?search=ZOË", headers=reader)) == ["zoe"]
    assert names(await modern.get("/api/users/?search=zoe ørsted", headers=reader)) == ["zoe"]
    assert names(await modern.get("/api/users/?search=zoe member01", headers=reader)) == []
    for literal in ("%25", "_", "lit_eral"):
        assert names(await modern.get(f"/api/users/?search={literal}", headers=reader)) == ["percent"]
    nul = await modern.get("/api/users/?search=%00", headers=reader)
    assert nul.status_code == 400 and nul.json() == ["Null characters are not allowed."]


async def test_ordering_and_filter(modern, reader):
    by_name = names(await modern.get("/api/users/?ordering=-username&page_size=3", headers=reader))
    assert by_name == ["zoe", "reader", "percent"]
    default = names(await modern.get("/api/users/", headers=reader))
    assert names(await modern.get("/api/users/?ordering=password", headers=reader)) == default
    assert (await modern.get("/api/users/?is_active=false", headers=reader)).json()["count"] == 9
    assert (await modern.get("/api/users/?is_active=True", headers=reader)).json()["count"] == 39
    assert (await modern.get("/api/users/?is_active=maybe", headers=reader)).json()["count"] == 48
