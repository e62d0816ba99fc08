"""HTTP-level behaviour the legacy's Django stack has: HEAD, OPTIONS, 405/406/415, APPEND_SLASH, HTML 404,
ALLOWED_HOSTS and the security headers."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

NOT_FOUND_PAGE = (
    b'\n<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n'
    b"  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n"
)


@pytest.fixture
def alice(make_user):
    return make_user(username="alice", email="alice@example.com")


async def test_head_answers_like_get(modern, alice, auth_header):
    headers = await auth_header(alice)
    get, head = (
        await modern.get("/api/users/", headers=headers),
        await modern.head("/api/users/", headers=headers),
    )
    assert head.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["allow"] == "GET, POST, HEAD, OPTIONS"


async def test_options_is_drfs_metadata(modern, alice, make_user, auth_header):
    headers = await auth_header(alice)
    listing = (await modern.options("/api/users/", headers=headers)).json()
    assert listing["name"] == "User List" and list(listing["actions"]) == ["POST"]
    assert listing["actions"]["POST"]["email"] == {
        "type": "email", "required": True, "read_only": False, "label": "Email", "max_length": 254,
    }  # fmt: skip
    own = (await modern.options(f"/api/users/{alice.pk}/", headers=headers)).json()
    assert own["name"] == "User Instance" and list(own["actions"]) == ["PUT"]
    other = await orm_user(make_user)
    assert "actions" not in (await modern.options(f"/api/users/{other.pk}/", headers=headers)).json()
    assert (await modern.options("/api/users/")).status_code == 401
    token = await modern.options("/api/auth/token/")
    assert token.status_code == 200 and token.json()["name"] == "Obtain Token"


async def orm_user(make_user):
    from tests.modern.conftest import orm

    return await orm(make_user, username="other", email="other@example.com")


async def test_negotiation_happens_before_authentication(modern):
    html = await modern.get("/api/users/", headers={"Accept": "text/html"})
    assert html.status_code == 406 and html.json() == {
        "detail": "Could not satisfy the request Accept header."
    }
    xml = await modern.get("/api/users/?format=xml")
    assert xml.status_code == 404 and xml.json() == {"detail": "Not found."}


async def test_indent_from_accept(modern, alice, auth_header):
    response = await modern.get(
        "/api/users/me/", headers={**await auth_header(alice), "Accept": "application/json; indent=2"}
    )
    assert response.text.startswith('{\n  "id": ')
    assert response.headers["content-type"] == "application/json"


async def test_methods_not_allowed_after_authentication(modern, alice, auth_header):
    anonymous = await modern.request("TRACE", "/api/users/")
    assert anonymous.status_code == 401
    known = await modern.request("FOO", "/api/users/", headers=await auth_header(alice))
    assert known.status_code == 405 and known.json() == {"detail": 'Method "FOO" not allowed.'}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_append_slash_redirects_every_method(modern, method):
    response = await modern.request(method, "/api/users?page=2")
    assert response.status_code == 301
    assert response.headers["location"] == "/api/users/?page=2"
    assert response.content == b"" and "x-frame-options" not in response.headers


@pytest.mark.parametrize(
    "path", ["/nope/", "/api/users/1.5", "/api/users/1.5/", "/api/users//", "/docs", "/openapi.json"]
)
async def test_unmatched_urls_get_djangos_404_page(modern, path):
    response = await modern.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == NOT_FOUND_PAGE


async def test_disallowed_host_is_djangos_400(modern):
    response = await modern.get("/api/users/", headers={"Host": "evil.example.com"})
    assert response.status_code == 400
    assert b"<title>Bad Request (400)</title>" in response.content


async def test_security_headers(modern):
    response = await modern.get("/api/users/")
    for name, value in [("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"),
                        ("referrer-policy", "same-origin"), ("cross-origin-opener-policy", "same-origin")]:  # fmt: skip
        assert response.headers[name] == value
