"""Each mode routes where it says, through each real front door (nginx, Envoy) rendered from the manifest.

Backends: two tiny real uvicorn servers (``echo_app.py``) that answer with their own name, so every
assertion checks both the ``X-Cutover-Backend`` header and which server really answered.
"""

from __future__ import annotations

import pytest

from cutover.proxy.apply import move_route

from .conftest import BOTH_DOORS, GREEDY_PATTERN, ORDERS_BY_METHOD, access_log, manifest_text

pytestmark = BOTH_DOORS

PATHS = {
    "auth-token": ("POST", "/api/auth/token/"),
    "users": ("GET", "/api/users/"),
    "users-me": ("GET", "/api/users/me/"),
    "user-detail": ("GET", "/api/users/42/"),
    "admin": ("GET", "/admin/login/"),
    "static": ("GET", "/static/admin/css/base.css"),
}


def served(client, method: str, path: str, **kwargs) -> tuple[str, str, str]:
    response = client.request(method, path, **kwargs)
    assert response.status_code == 200, response.text
    return (
        response.headers["x-cutover-route"],
        response.headers["x-cutover-backend"],
        response.json()["backend"],
    )


def test_everything_starts_on_legacy_and_unmatched_paths_take_the_default_route(front_door):
    with front_door.client() as client:
        for route_id, (method, path) in PATHS.items():
            assert served(client, method, path) == (route_id, "legacy", "legacy")
        for path in ("/", "/api/schema/", "/api/users", "/api/users/1/extra/", "/nothing"):
            assert served(client, "GET", path) == ("default", "legacy", "legacy")


@pytest.mark.parametrize("route_id", ["auth-token", "users", "users-me", "user-detail"])
def test_modern_sends_the_route_and_only_that_route_to_fastapi(front_door, route_id):
    move_route(front_door.manifest, front_door.door, route_id, "modern")
    with front_door.client() as client:
        for other, (method, path) in PATHS.items():
            expected = "modern" if other == route_id else "legacy"
            assert served(client, method, path) == (other, expected, expected)
        assert served(client, "GET", "/somewhere/else/") == ("default", "legacy", "legacy")


def test_back_to_legacy(front_door):
    move_route(front_door.manifest, front_door.door, "users", "modern")
    move_route(front_door.manifest, front_door.door, "users", "legacy")
    with front_door.client() as client:
        assert served(client, "GET", "/api/users/") == ("users", "legacy", "legacy")


def test_a_route_covers_only_its_methods(front_door):
    # auth-token covers POST only: a GET on the same path is the default route, on legacy.
    move_route(front_door.manifest, front_door.door, "auth-token", "modern")
    with front_door.client() as client:
        assert served(client, "POST", "/api/auth/token/") == ("auth-token", "modern", "modern")
        assert served(client, "GET", "/api/auth/token/") == ("default", "legacy", "legacy")


def test_routes_sharing_a_path_split_by_method(echo_backends, make_front_door):
    door = make_front_door(
        manifest_text(echo_backends.legacy.address, echo_backends.modern.address, ORDERS_BY_METHOD)
    )
    with door.client() as client:
        assert served(client, "GET", "/api/orders/7/") == ("orders-read", "modern", "modern")
        assert served(client, "PATCH", "/api/orders/7/", json={}) == ("orders-write", "legacy", "legacy")
        assert served(client, "OPTIONS", "/api/orders/7/") == ("default", "legacy", "legacy")


def test_exact_beats_pattern_and_pinned_prefix_beats_patterns(echo_backends, make_front_door):
    door = make_front_door(
        manifest_text(echo_backends.legacy.address, echo_backends.modern.address, GREEDY_PATTERN)
    )
    with door.client() as client:
        assert served(client, "GET", "/api/users/me/") == ("users-me", "legacy", "legacy")  # exact
        assert served(client, "GET", "/admin/users/user/") == ("admin", "legacy", "legacy")  # pinned prefix
        # user-detail comes first in the file, so it wins over the later pattern
        assert served(client, "GET", "/api/users/5/") == ("user-detail", "legacy", "legacy")
        assert served(client, "GET", "/api/users/5/groups/") == ("greedy", "modern", "modern")


def test_forwarded_headers_reach_the_app_and_spoofed_ones_are_replaced(front_door):
    move_route(front_door.manifest, front_door.door, "users", "modern")
    with front_door.client() as client:
        response = client.get(
            "/api/users/",
            headers={
                "X-Forwarded-Host": "evil.example",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "10.9.9.9",
            },
        )
    seen = response.json()["headers"]
    assert seen["host"] == f"127.0.0.1:{front_door.port}"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{front_door.port}"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-for"] == "10.9.9.9, 127.0.0.1"  # appended, as the standard says
    # the backend's own X-Cutover-Backend ("spoofed") is hidden; the front door's is the only one
    assert response.headers.get_list("x-cutover-backend") == ["modern"]


def test_the_access_log_is_json_with_route_and_backend(front_door):
    move_route(front_door.manifest, front_door.door, "users-me", "modern")
    with front_door.client() as client:
        client.get("/api/users/me/?x=1")
        client.get("/elsewhere")
    entries = access_log(front_door.access_log, 2)
    assert len(entries) == 2
    assert entries[0]["route"] == "users-me"
    assert entries[0]["backend"] == entries[0]["served_by"] == "modern"
    assert entries[0]["uri"] == "/api/users/me/?x=1"
    assert entries[0]["status"] == 200
    assert entries[1]["route"] == "default"
    assert entries[1]["served_by"] == "legacy"


def test_upstream_connections_are_kept_alive(front_door):
    # 30 requests in a row reach the backend over one or two reused connections, not 30 new ones.
    with front_door.client() as client:
        answers = [client.get("/api/users/").json() for _ in range(30)]
    assert all("connection" not in a["headers"] for a in answers)  # no "Connection: close" upstream
    assert len({a["client_port"] for a in answers}) <= 2
