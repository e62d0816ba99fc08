"""HTTP-level behaviour the port must reproduce: methods, HEAD, OPTIONS, trailing slashes, unknown URLs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_head_answers_like_get_without_body(client_as, alice):
    client = client_as(alice)
    get = client.get("/api/users/")
    head = client.head("/api/users/")
    assert head.status_code == 200
    assert head.content == b""
    assert head["Content-Type"] == get["Content-Type"]


def test_options_returns_drf_metadata(client_as, alice):
    response = client_as(alice).options("/api/users/")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "User List"
    assert body["renders"] == ["application/json"]
    assert body["parses"] == ["application/json"]
    assert "POST" in body["actions"]
    assert body["actions"]["POST"]["email"]["required"] is True
    assert "password" in body["actions"]["POST"]


def test_anonymous_options_needs_authentication(api_client):
    # OPTIONS runs the view's permissions with action "metadata", which is not the open "create".
    response = api_client.options("/api/users/")
    assert response.status_code == 401
    assert response["Allow"] == "GET, POST, HEAD, OPTIONS"


@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        ("/api/users/", "put", "GET, POST, HEAD, OPTIONS"),
        ("/api/users/", "delete", "GET, POST, HEAD, OPTIONS"),
        ("/api/users/{id}/", "post", "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"),
    ],
)
def test_unsupported_methods_are_405_with_allow(client_as, alice, path, method, allow):
    response = getattr(client_as(alice), method)(path.format(id=alice.pk))
    assert response.status_code == 405
    assert response["Allow"] == allow
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}


def test_missing_trailing_slash_redirects_get_with_301(client_as, alice):
    response = client_as(alice).get("/api/users", {"page": 2})
    assert response.status_code == 301
    assert response["Location"] == "/api/users/?page=2"


def test_unknown_url_is_an_html_404(api_client):
    response = api_client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_json_responses_carry_drf_headers(client_as, alice):
    response = client_as(alice).get("/api/users/me/")
    assert response["Content-Type"] == "application/json"
    # DRF adds `Vary: Accept` only when a view has several renderers; this API has one.
    assert "Vary" not in response
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_openapi_schema_is_served(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/users/{id}/" in response.json()["paths"]
