"""GET /api/users/: pagination, search, ordering and the is_active filter."""

from __future__ import annotations

import pytest

URL = "/api/users/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    """45 users plus the requester, with names chosen for search and ordering."""
    users = [
        make_user(username=f"member{n:02d}", email=f"m{n:02d}@example.com", is_active=n % 5 != 0)
        for n in range(45)
    ]
    users.append(
        make_user(username="percent", email="p@example.com", first_name="100%", last_name="lit_eral")
    )
    users.append(make_user(username="zoe", email="ZOE@Example.com", first_name="Zoë", last_name="Ørsted"))
    return users


@pytest.fixture
def reader(make_user, client_as):
    return client_as(make_user(username="reader", email="reader@example.com"))


def usernames(response) -> list[str]:
    return [u["username"] for u in response.json()["results"]]


def test_anonymous_list_is_401_with_token_challenge(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_first_page_shape_and_links(people, reader):
    response = reader.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["count"] == 48
    assert body["previous"] is None
    assert body["next"] == "http://testserver/api/users/?page=2"
    assert len(body["results"]) == 20
    ids = [u["id"] for u in body["results"]]
    assert ids == sorted(ids)


def test_link_to_first_page_drops_page_param(people, reader):
    body = reader.get(URL, {"page": 2, "search": "member"}).json()
    assert body["previous"] == "http://testserver/api/users/?search=member"
    assert body["next"] == "http://testserver/api/users/?page=3&search=member"


def test_last_page(people, reader):
    body = reader.get(URL, {"page": 3}).json()
    assert body["next"] is None
    assert len(body["results"]) == 8
    last = reader.get(URL, {"page": "last"}).json()
    assert last == body


@pytest.mark.parametrize("page", ["0", "4", "abc", "-1", "1.5"])
def test_invalid_pages_are_404(people, reader, page):
    response = reader.get(URL, {"page": page})
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


def test_links_follow_forwarded_host_and_proto(people, reader):
    # What nginx in front sends: the client's Host (with its port) and scheme.
    response = reader.get(URL, HTTP_X_FORWARDED_HOST="localhost:8000", HTTP_X_FORWARDED_PROTO="https")
    assert response.json()["next"] == "https://localhost:8000/api/users/?page=2"


def test_forwarded_host_must_be_allowed(people, reader):
    response = reader.get(URL, HTTP_X_FORWARDED_HOST="evil.example.com")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("page_size", "expected"),
    [("5", 5), ("100", 48), ("1000", 48), ("0", 20), ("-3", 20), ("ten", 20)],
)
def test_page_size_is_clamped_like_drf(people, reader, page_size, expected):
    # DRF clamps an oversized page_size to max_page_size (100) and ignores invalid values.
    response = reader.get(URL, {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected


def test_page_size_cap_is_100(make_user, client_as, fixture_password_hash):
    from legacy_django.users.models import User

    User.objects.bulk_create(
        User(username=f"bulk{n}", email=f"bulk{n}@example.com", password=fixture_password_hash)
        for n in range(120)
    )
    client = client_as(make_user(username="reader", email="reader@example.com"))
    body = client.get(URL, {"page_size": 500}).json()
    assert len(body["results"]) == 100
    assert body["next"] == "http://testserver/api/users/?page=2&page_size=500"


def test_search_is_case_insensitive_across_fields(people, reader):
    assert usernames(reader.get(URL, {"search": "zoe"})) == ["zoe"]  # username
    assert usernames(reader.get(URL, {"search": "ZOË"})) == ["zoe"]  # first name, unicode casefold
    assert usernames(reader.get(URL, {"search": "ørsted"})) == ["zoe"]  # last name
    assert usernames(reader.get(URL, {"search": "example.com"})) != []  # email


def test_search_terms_are_anded(people, reader):
    assert usernames(reader.get(URL, {"search": "zoe ørsted"})) == ["zoe"]
    assert usernames(reader.get(URL, {"search": "zoe member01"})) == []


def test_search_treats_percent_and_underscore_literally(people, reader):
    assert usernames(reader.get(URL, {"search": "%"})) == ["percent"]
    assert usernames(reader.get(URL, {"search": "_"})) == ["percent"]
    assert usernames(reader.get(URL, {"search": "lit_eral"})) == ["percent"]


def test_empty_search_returns_everyone(people, reader):
    assert reader.get(URL, {"search": ""}).json()["count"] == 48


@pytest.mark.parametrize("key", ["id", "username", "email", "date_joined"])
def test_ordering_keys(people, reader, key):
    from legacy_django.users.models import User

    expected = list(User.objects.order_by(key, "id").values_list("username", flat=True)[:20])
    assert usernames(reader.get(URL, {"ordering": key})) == expected
    expected_desc = list(User.objects.order_by(f"-{key}").values_list("username", flat=True)[:20])
    assert usernames(reader.get(URL, {"ordering": f"-{key}"})) == expected_desc


def test_unknown_ordering_key_falls_back_to_default(people, reader):
    assert usernames(reader.get(URL, {"ordering": "password"})) == usernames(reader.get(URL))


def test_is_active_filter(people, reader):
    inactive = reader.get(URL, {"is_active": "false"}).json()
    assert inactive["count"] == 9
    assert all(u["is_active"] is False for u in inactive["results"])
    assert reader.get(URL, {"is_active": "true"}).json()["count"] == 39
    assert reader.get(URL, {"is_active": "True"}).json()["count"] == 39


def test_invalid_is_active_value_is_ignored_like_django_filter(people, reader):
    # django-filter's BooleanWidget maps unknown values to None: no filtering.
    assert reader.get(URL, {"is_active": "maybe"}).json()["count"] == 48
