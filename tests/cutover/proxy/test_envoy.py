"""The Envoy front door: the rendered bootstrap passes ``envoy --mode validate``, and a real Envoy routes
every request exactly as the nginx front door does (route and backend headers, and the server that
answered), fails over to legacy when FastAPI cannot be reached, and writes a JSON access log.

Backends: two tiny real uvicorn servers (``echo_app.py``) that answer with their own name.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.errors import CutoverError
from cutover.proxy import envoy
from cutover.proxy.manifest import load_manifest, parse_manifest, set_route_mode

from .conftest import (
    GREEDY_PATTERN,
    ORDERS_BY_METHOD,
    REPO,
    EchoServer,
    access_log,
    free_port,
    manifest_text,
    stop,
    wait_until_serving,
)

DEMO = REPO / "migration_notes" / "routes.toml"


@dataclass
class EnvoyDoor:
    port: int
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def entries(self, count: int) -> list[dict]:
        """The access log's entries but the readiness probe's, once there are ``count`` (flushed each 1 s)."""
        ours = lambda e: e["uri"] != READY  # noqa: E731
        found = access_log(self.log, count, until=lambda e: sum(map(ours, entries_of(self.log))) >= count)
        return [e for e in found if ours(e)]


READY = "/__ready"


def entries_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def make_envoy(tmp_path: Path) -> Iterator[Callable[[str], EnvoyDoor]]:
    """Start Envoy from a manifest text (no admin endpoint); every Envoy started is stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def make(text: str) -> EnvoyDoor:
        n = len(started)
        port = free_port()
        log = tmp_path / f"envoy{n}-access.log"
        config = tmp_path / f"envoy{n}.json"
        manifest = parse_manifest(text, source=f"routes{n}.toml")
        config.write_text(envoy.render(manifest, listen=f"127.0.0.1:{port}", access_log=str(log)))
        proc = subprocess.Popen(envoy.command(config, "--concurrency", "1"), cwd=tmp_path)
        started.append(proc)
        wait_until_serving(f"http://127.0.0.1:{port}{READY}", proc)
        return EnvoyDoor(port, log)

    yield make
    for proc in started:
        stop(proc)
        assert proc.poll() is not None


def test_the_demo_manifest_renders_and_envoy_validates_it(tmp_path: Path):
    config = tmp_path / "envoy.json"
    config.write_text(envoy.render(load_manifest(DEMO)))
    envoy.validate(config)
    routes = json.loads(config.read_text())["static_resources"]["listeners"][0]["filter_chains"][0]
    names = [
        r["name"] for r in routes["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    ]
    # exact paths, then prefixes longest first, then patterns, then the default route
    assert names == [
        "auth-token",
        "default",
        "users",
        "users-me",
        "static",
        "admin",
        "user-detail",
        "default",
    ]


def test_validate_refuses_a_broken_config_in_one_line(tmp_path: Path):
    config = tmp_path / "envoy.json"
    config.write_text('{"static_resources": {"clusters": [{"name": "x", "type": "NOPE"}]}}')
    with pytest.raises(CutoverError) as caught:
        envoy.validate(config)
    assert "\n" not in str(caught.value) and str(config) in str(caught.value)


EXTRA = (
    ORDERS_BY_METHOD
    + """
[[routes]]
id = "orders-all"
match = "prefix"
path = "/api/orders/archive/"
mode = "modern"
"""
    + GREEDY_PATTERN
)

REQUESTS = [
    ("POST", "/api/auth/token/"),
    ("GET", "/api/auth/token/"),  # not a method of auth-token: the default route
    ("GET", "/api/users/"),
    ("POST", "/api/users/"),
    ("GET", "/api/users/me/"),
    ("GET", "/api/users/42/"),
    ("DELETE", "/api/users/42/"),
    ("GET", "/api/users/5/groups/"),
    ("GET", "/admin/login/"),
    ("GET", "/admin/users/user/"),
    ("GET", "/admin"),
    ("GET", "/static/admin/css/base.css"),
    ("GET", "/api/orders/7/"),
    ("PATCH", "/api/orders/7/"),
    ("OPTIONS", "/api/orders/7/"),
    ("GET", "/api/orders/archive/1/"),
    ("POST", "/api/orders/archive/1/"),
    ("GET", "/"),
    ("GET", "/api/users"),
    ("GET", "/api/users/1/extra/?q=1"),
    ("GET", "/nothing"),
]


def scenario(legacy: str, modern: str, name: str) -> str:
    text = manifest_text(legacy, modern)
    if name == "moved":
        text = manifest_text(legacy, modern, EXTRA)
        for route_id in ("users-me", "auth-token", "user-detail"):
            text = set_route_mode(text, route_id, "modern", source="routes.toml")
    return text


def answers(client: httpx.Client) -> list[tuple[str, str, str, str, str]]:
    out = []
    for method, path in REQUESTS:
        response = client.request(method, path)
        assert response.status_code == 200, (method, path, response.text)
        assert response.headers.get_list("x-cutover-backend") == [response.json()["backend"]]
        out.append((method, path, response.headers["x-cutover-route"], *_backends(response)))
    return out


def _backends(response: httpx.Response) -> tuple[str, str]:
    return response.headers["x-cutover-backend"], response.json()["backend"]


@pytest.mark.parametrize("name", ["demo", "moved"])
def test_envoy_routes_every_request_as_nginx_does(echo_backends, make_front_door, make_envoy, name):
    text = scenario(echo_backends.legacy.address, echo_backends.modern.address, name)
    with make_front_door(text).client() as client:
        through_nginx = answers(client)
    with make_envoy(text).client() as client:
        through_envoy = answers(client)
    assert through_envoy == through_nginx
    if name == "moved":  # the comparison is not vacuous: both backends answer
        assert {backend for *_, backend in through_envoy} == {"legacy", "modern"}


CANARIES = """
[[routes]]
id = "by-session"
match = "prefix"
path = "/by-session/"
mode = "canary"
percent = 40
sticky = "session"

[[routes]]
id = "by-client"
match = "prefix"
path = "/by-client/"
mode = "canary"
percent = 50
sticky = "client"
"""


def test_canaries_split_key_by_key_as_nginx_does(echo_backends, make_front_door, make_envoy):
    text = manifest_text(echo_backends.legacy.address, echo_backends.modern.address, CANARIES)
    text = set_route_mode(text, "user-detail", "canary", 10, source="routes.toml")
    text = set_route_mode(text, "users", "canary", 50, source="routes.toml")
    tokens = [f"Token {i:040x}" for i in range(400)] + ["Token caf\u00e9", "Bearer x", "a", "ab", "abc"]
    sessions = [f"sessionid=s{i}" for i in range(400)] + ["other=1; sessionid=late", "sessionid="]
    runs = [
        ("/api/users/7/", "Authorization", tokens),
        ("/api/users/", "Authorization", tokens),
        ("/by-session/x", "Cookie", sessions),
        ("/by-client/x", "Authorization", tokens[:20]),
    ]
    nginx, door = make_front_door(text), make_envoy(text)
    for path, header, keys in runs:
        through_nginx = split(door=nginx, path=path, header=header, keys=keys)
        through_envoy = split(door=door, path=path, header=header, keys=keys)
        assert through_envoy == through_nginx, path
        if path != "/by-client/x":  # a real split, not all on one side
            assert set(through_envoy.values()) == {"legacy", "modern"}, path
    # the side header a client sends is overwritten, not obeyed
    with door.client() as client:
        forced = client.get(
            "/api/users/7/", headers={"Authorization": tokens[0], "X-Cutover-Canary": "modern"}
        )
        honest = client.get("/api/users/7/", headers={"Authorization": tokens[0]})
    assert _backends(forced) == _backends(honest)
    assert "x-cutover-canary" not in forced.json()["headers"]


def split(door, path: str, header: str, keys: list[str]) -> dict[str, str]:
    with door.client() as client:
        out = {}
        for key in keys:
            response = client.get(path, headers={header: key.encode()})  # UTF-8 bytes, as sent
            assert response.status_code == 200
            assert response.headers["x-cutover-route"] != "default"
            out[key] = response.headers["x-cutover-backend"]
            assert out[key] == response.json()["backend"]
        return out


def test_when_fastapi_is_unreachable_legacy_answers(echo_backends, make_envoy):
    down = EchoServer("modern", free_port())  # never started: connections are refused
    text = manifest_text(echo_backends.legacy.address, down.address, EXTRA)
    door = make_envoy(text)
    with door.client() as client:
        for _ in range(3):
            response = client.get("/api/orders/7/")
            assert response.status_code == 200
            assert (response.headers["x-cutover-route"], *_backends(response)) == (
                "orders-read",
                "legacy",
                "legacy",
            )
        # FastAPI never saw it, so even a POST is sent to Django
        response = client.post("/api/orders/archive/1/", headers={"X-Write-Id": "w1"})
        assert response.status_code == 200 and response.json()["backend"] == "legacy"
    entries = door.entries(4)
    assert [(e["route"], e["backend"], e["served_by"]) for e in entries[:1]] == [
        ("orders-read", "modern", "legacy")
    ]


class DiesMidRequest:
    """A real server that reads each request and closes the connection without answering."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    if conn.recv(65536):
                        self.requests += 1
                except OSError:
                    pass


def test_a_post_that_reached_fastapi_is_never_replayed_but_a_get_is(echo_backends, make_envoy):
    # Each on a fresh Envoy: after one failure FastAPI is ejected for fail_timeout, and everything goes
    # straight to Django.
    dies = DiesMidRequest()
    text = manifest_text(echo_backends.legacy.address, dies.address, EXTRA)
    try:
        write_id = f"envoy-{uuid.uuid4()}"
        with make_envoy(text).client() as client:
            response = client.post("/api/orders/archive/1/", headers={"X-Write-Id": write_id})
        assert response.status_code >= 500
        assert dies.requests == 1  # FastAPI saw it once...
        writes = httpx.get(f"http://{echo_backends.legacy.address}/__writes").json()
        assert write_id not in writes  # ... and Django never did
        with make_envoy(text).client() as client:
            response = client.get("/api/orders/archive/1/")
        assert dies.requests == 2  # sent to FastAPI, then retried on Django
        assert response.status_code == 200
        assert (response.headers["x-cutover-route"], *_backends(response)) == (
            "orders-all",
            "legacy",
            "legacy",
        )
    finally:
        dies.sock.close()


def test_the_access_log_is_json_with_route_and_backends(echo_backends, make_envoy):
    text = manifest_text(echo_backends.legacy.address, echo_backends.modern.address)
    door = make_envoy(set_route_mode(text, "users-me", "modern", source="routes.toml"))
    with door.client() as client:
        client.get("/api/users/me/?x=1")
        client.get("/elsewhere")
    entries = door.entries(2)
    assert len(entries) == 2
    assert set(entries[0]) == {
        "time",
        "remote_addr",
        "method",
        "uri",
        "status",
        "route",
        "backend",
        "served_by",
        "upstream_addr",
        "upstream_status",
        "request_time",
        "upstream_response_time",
        "bytes_sent",
    }
    assert entries[0]["route"] == "users-me"
    assert entries[0]["backend"] == entries[0]["served_by"] == "modern"
    assert entries[0]["uri"] == "/api/users/me/?x=1"
    assert entries[0]["status"] == 200
    assert entries[0]["upstream_addr"] == echo_backends.modern.address
    assert (entries[1]["route"], entries[1]["served_by"]) == ("default", "legacy")


def test_forwarded_headers_are_set_and_scheme_headers_dropped(echo_backends, make_envoy):
    door = make_envoy(manifest_text(echo_backends.legacy.address, echo_backends.modern.address))
    with door.client() as client:
        seen = client.get(
            "/api/users/",
            headers={
                "X-Forwarded-Host": "evil.example",
                "X-Forwarded-Ssl": "on",
                "X-Forwarded-For": "10.9.9.9",
            },
        ).json()["headers"]
    assert seen["host"] == seen["x-forwarded-host"] == f"127.0.0.1:{door.port}"
    assert seen["x-forwarded-proto"] == "http"
    # appended to as nginx does (Envoy's own append would say "10.9.9.9,<the host's address>")
    assert seen["x-forwarded-for"] == "10.9.9.9, 127.0.0.1"
    assert "x-forwarded-ssl" not in seen


def test_cli_renders_for_envoy_after_validating(tmp_path: Path):
    out = tmp_path / "envoy.json"
    result = CliRunner().invoke(
        app,
        ["render", "--front-door", "envoy", "--manifest", str(DEMO), "--proxy-dir", str(tmp_path / "p")]
        + ["--listen", "127.0.0.1:18123", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "envoy --mode validate: ok" in result.stderr
    listener = json.loads(out.read_text())["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 18123}
