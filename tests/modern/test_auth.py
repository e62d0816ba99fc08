"""Token and session authentication, CSRF, and POST /api/auth/token/ on the FastAPI app."""

from __future__ import annotations

import httpx
import pytest
from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret
from rest_framework.authtoken.models import Token

from tests.conftest import FIXTURE_PASSWORD
from tests.modern.conftest import orm

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_URL = "/api/auth/token/"


@pytest.fixture
def alice(make_user):
    return make_user(username="alice", email="alice@example.com")


async def test_obtain_token_is_get_or_create(modern, alice):
    first = await modern.post(TOKEN_URL, json={"username": "alice", "password": FIXTURE_PASSWORD})
    assert first.status_code == 200
    key = first.json()["token"]
    assert len(key) == 40 and int(key, 16) >= 0
    assert await orm(lambda: Token.objects.get(user=alice).key) == key
    form = await modern.post(TOKEN_URL, data={"username": "alice", "password": FIXTURE_PASSWORD})
    assert form.json() == {"token": key}
    multipart = await modern.post(
        TOKEN_URL, files={"username": (None, "alice"), "password": (None, FIXTURE_PASSWORD)}
    )
    assert multipart.json() == {"token": key}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"username": "alice", "password": "wrong"}, {"non_field_errors": ["Unable to log in with provided credentials."]}),
        ({"username": "nobody", "password": "x"}, {"non_field_errors": ["Unable to log in with provided credentials."]}),
        ({"username": "alice"}, {"password": ["This field is required."]}),
        ({"username": "", "password": ""}, {"username": ["This field may not be blank."], "password": ["This field may not be blank."]}),
    ],
)  # fmt: skip
async def test_obtain_token_errors(modern, alice, data, expected):
    response = await modern.post(TOKEN_URL, json=data)
    assert response.status_code == 400 and response.json() == expected


async def test_inactive_user_gets_no_token_and_its_token_is_refused(modern, make_user, token_for):
    sleeper = await orm(make_user, username="sleeper", email="s@example.com", is_active=False)
    response = await modern.post(TOKEN_URL, json={"username": "sleeper", "password": FIXTURE_PASSWORD})
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    key = await orm(token_for, sleeper)
    refused = await modern.get("/api/users/", headers={"Authorization": f"Token {key}"})
    assert refused.status_code == 401 and refused.json() == {"detail": "User inactive or deleted."}


async def test_obtain_token_rejects_get(modern):
    response = await modern.get(TOKEN_URL)
    assert response.status_code == 405 and response.json() == {"detail": 'Method "GET" not allowed.'}
    assert response.headers["allow"] == "POST, OPTIONS"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (b"Token", "Invalid token header. No credentials provided."),
        (b"Token a b", "Invalid token header. Token string should not contain spaces."),
        (b"token " + b"0" * 40, "Invalid token."),
        (b"Token \xe9\xe9", "Invalid token header. Token string should not contain invalid characters."),
    ],
)
async def test_bad_token_headers(modern_app, header, detail):
    # Raw header bytes, as a server hands them over (ISO-8859-1), not re-encoded by a client.
    transport = httpx.ASGITransport(app=modern_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        request = client.build_request("GET", "/api/users/")
        request.headers["Authorization"] = header.decode("latin-1")
        request.headers._list = [(k, k.lower(), header if k.lower() == b"authorization" else v)
                                 for k, _, v in request.headers._list]  # fmt: skip
        response = await client.send(request)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Token"
    assert response.json() == {"detail": detail}


async def test_other_schemes_are_anonymous(modern):
    response = await modern.get("/api/users/", headers={"Authorization": "Bearer abc"})
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.fixture
def session_cookie(alice, django_session):
    return django_session(alice)


async def test_django_session_authenticates_safe_requests(modern, session_cookie):
    response = await modern.get("/api/users/me/", headers={"Cookie": f"sessionid={session_cookie}"})
    assert response.status_code == 200 and response.json()["username"] == "alice"
    assert response.headers["vary"] == "Cookie"


async def test_session_unsafe_request_needs_csrf(modern, alice, session_cookie):
    url = f"/api/users/{alice.pk}/"
    cookie = f"sessionid={session_cookie}"
    missing = await modern.patch(url, json={"first_name": "X"}, headers={"Cookie": cookie})
    assert missing.status_code == 403 and missing.json() == {"detail": "CSRF Failed: CSRF cookie not set."}
    secret = _get_new_csrf_string()
    wrong = await modern.patch(
        url,
        json={"first_name": "X"},
        headers={"Cookie": f"{cookie}; csrftoken={secret}", "X-CSRFToken": _get_new_csrf_string()},
    )
    assert wrong.json() == {"detail": "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect."}
    ok = await modern.patch(
        url, json={"first_name": "Via session"},
        headers={"Cookie": f"{cookie}; csrftoken={secret}", "X-CSRFToken": _mask_cipher_secret(secret)},
    )  # fmt: skip
    assert ok.status_code == 200 and ok.json()["first_name"] == "Via session"


async def test_tampered_or_unknown_session_is_anonymous_and_cookie_deleted(modern, session_cookie):
    other = "y" if session_cookie.endswith("x") else "x"  # a key ending in "x" must still change
    tampered = await modern.get(
        "/api/users/me/", headers={"Cookie": f"sessionid={session_cookie[:-1]}{other}"}
    )
    assert tampered.status_code == 401
    assert tampered.headers["set-cookie"].startswith(
        'sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0'
    )


async def test_password_change_ends_the_session(modern, alice, session_cookie):
    def change() -> None:
        alice.set_password("a-brand-new-passphrase")
        alice.save()

    await orm(change)
    response = await modern.get("/api/users/me/", headers={"Cookie": f"sessionid={session_cookie}"})
    assert response.status_code == 401
