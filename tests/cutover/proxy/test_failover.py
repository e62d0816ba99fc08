"""Failover through each real front door (nginx, Envoy) to the real Django app (gunicorn on the test
database).

"FastAPI stopped" is a modern backend address nobody listens on; "FastAPI died mid-request" is a real
TCP server that reads the request and closes the connection without answering.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from cutover.database import child_env
from cutover.dburl import DatabaseURL, database_url_from_env
from cutover.runner import python_module
from legacy_django.users.models import User

from .conftest import BOTH_DOORS, REPO, access_log, free_port, manifest_text, stop, wait_until_serving

# gunicorn must see the rows the tests create
pytestmark = [pytest.mark.django_db(transaction=True), BOTH_DOORS]


@pytest.fixture(scope="module")
def django_server(django_db_setup, django_db_blocker) -> Iterator[str]:
    """gunicorn serving legacy_django on the pytest test database."""
    with django_db_blocker.unblock():
        test_db = connection.settings_dict["NAME"]
    base = database_url_from_env()
    assert isinstance(base, DatabaseURL)
    port = free_port()
    proc = subprocess.Popen(
        python_module(
            "gunicorn",
            "legacy_django.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
        ),  # fmt: skip
        cwd=REPO,
        env=child_env(base.with_name(test_db), CONN_MAX_AGE="0"),
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/api/users/", proc)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


class DiesMidRequest:
    """A real server that accepts a connection, reads the request, and closes without a response."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(65536)
                except OSError:
                    continue
                if data:
                    self.requests.append(data.split(b"\r\n", 1)[0])

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def user_with_token(make_user):
    user = make_user(username="failover-user")
    return user, Token.objects.create(user=user).key


def modern_manifest(django: str, modern: str) -> str:
    """The demo manifest with users, users-me and user-detail on modern."""
    text = manifest_text(django, modern)
    moved = text.replace(
        'mode = "legacy"\nsticky = "authorization"', 'mode = "modern"\nsticky = "authorization"'
    )
    assert moved.count('mode = "modern"') == 3
    return moved


def test_with_fastapi_stopped_safe_requests_on_modern_routes_succeed_through_django(
    django_server, make_front_door, user_with_token
):
    user, key = user_with_token
    door = make_front_door(modern_manifest(django_server, f"127.0.0.1:{free_port()}"))  # nobody listens
    with door.client(headers={"Authorization": f"Token {key}"}) as client:
        for _ in range(5):  # the first request finds FastAPI down; the next ones skip it for fail_timeout
            me = client.get("/api/users/me/")
            assert me.status_code == 200
            assert me.json()["username"] == "failover-user"
            assert (me.headers["x-cutover-route"], me.headers["x-cutover-backend"]) == ("users-me", "legacy")
        detail = client.get(f"/api/users/{user.pk}/")
        assert detail.status_code == 200 and detail.headers["x-cutover-backend"] == "legacy"
        head = client.head("/api/users/")
        assert head.status_code == 200 and head.headers["x-cutover-backend"] == "legacy"
    last = access_log(door.access_log, 7)[-1]
    assert (last["backend"], last["served_by"]) == ("modern", "legacy")  # intended FastAPI, served by Django


def test_a_post_that_never_reached_fastapi_is_served_by_django(django_server, make_front_door):
    door = make_front_door(modern_manifest(django_server, f"127.0.0.1:{free_port()}"))
    signup = {"username": "newcomer", "email": "newcomer@example.com", "password": "a-long-pass-phrase-9"}
    with door.client() as client:
        response = client.post("/api/users/", json=signup)
    assert response.status_code == 201, response.text
    assert response.headers["x-cutover-backend"] == "legacy"
    assert User.objects.filter(username="newcomer").count() == 1


def test_a_post_that_reached_fastapi_is_never_replayed_on_django(
    django_server, make_front_door, user_with_token
):
    _, key = user_with_token
    dying = DiesMidRequest()
    signup = {"username": "only-once", "email": "only-once@example.com", "password": "a-long-pass-phrase-9"}
    try:
        # A fresh front door for each request: after a failure it skips FastAPI for fail_timeout.
        with make_front_door(modern_manifest(django_server, f"127.0.0.1:{dying.port}")).client() as client:
            post = client.post("/api/users/", json=signup)
        with make_front_door(modern_manifest(django_server, f"127.0.0.1:{dying.port}")).client() as client:
            get = client.get("/api/users/me/", headers={"Authorization": f"Token {key}"})
    finally:
        dying.close()
    assert dying.requests == [b"POST /api/users/ HTTP/1.1", b"GET /api/users/me/ HTTP/1.1"]  # both reached it
    assert post.status_code == 502
    assert post.headers["x-cutover-backend"] == "modern"
    assert not User.objects.filter(username="only-once").exists()  # never replayed on Django
    # the same failure on a GET is retried on Django: it is safe to repeat
    assert get.status_code == 200 and get.headers["x-cutover-backend"] == "legacy"


def test_with_several_fastapi_servers_down_requests_still_reach_django(echo_backends, make_front_door):
    """Backends here: the echo servers (``echo_app.py``) as Django; two addresses nobody listens on."""
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    text = manifest_text(echo_backends.legacy.address, dead[0]).replace(
        f'servers = ["{dead[0]}"]', f'servers = ["{dead[0]}", "{dead[1]}"]'
    )
    door = make_front_door(
        text.replace('mode = "legacy"\nsticky = "authorization"', 'mode = "modern"\nsticky = "authorization"')
    )
    with door.client() as client:
        for _ in range(4):
            response = client.get("/api/users/")
            assert response.status_code == 200
            assert response.headers["x-cutover-backend"] == response.json()["backend"] == "legacy"
