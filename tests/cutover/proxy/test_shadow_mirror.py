"""Shadow copies at the front door: a route's ``shadow = N`` copies N% of its GET, HEAD and OPTIONS requests
to the comparator (``[backends.shadow]``), through real nginx (``mirror``) and real Envoy
(``request_mirror_policies``), while the route's backend answers the client as before.

The comparator here is ``shadow_recorder.py``: a real HTTP server in the test process that records every
request it receives and answers 204 at once (or, ``Hung``, accepts connections and never answers). The
backends are the echo servers (``echo_app.py``), which say who answered.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.proxy import envoy
from cutover.proxy.apply import check_rendered, move_route
from cutover.proxy.manifest import ManifestError, parse_manifest
from cutover.proxy.render import render

from .conftest import BOTH_DOORS, REPO, free_port, manifest_text
from .shadow_recorder import Hung, Recorder
from .test_manifest import demo_text

# Two routes of their own beside the demo's (which do not shadow): a sampled share of a legacy route, and
# every safe request of a modern one.
SHADOWED_ROUTES = """
[[routes]]
id = "sampled"
match = "prefix"
path = "/api/sampled/"
mode = "legacy"
shadow = 30

[[routes]]
id = "copied"
match = "prefix"
path = "/api/copied/"
mode = "modern"
shadow = 100
"""


def shadow_manifest(echo_backends, comparator: str, routes: str = SHADOWED_ROUTES) -> str:
    return shadow_manifest_at(echo_backends.legacy.address, echo_backends.modern.address, comparator, routes)


def shadow_manifest_at(legacy: str, modern: str, comparator: str, routes: str = SHADOWED_ROUTES) -> str:
    text = manifest_text(legacy, modern, routes)
    return text.replace("\n[default]\n", f'\n[backends.shadow]\nservers = ["{comparator}"]\n\n[default]\n', 1)


@pytest.fixture
def comparator() -> Iterator[Recorder]:
    recorder = Recorder(free_port())
    recorder.start()
    yield recorder
    recorder.stop()


def answered_by(response: httpx.Response) -> str:
    """The backend that answered, asserting the client got that backend's own 200."""
    assert response.status_code == 200, response.text
    backend = response.json()["backend"]
    assert response.headers["x-cutover-backend"] == backend
    return backend


def connection_of(response: httpx.Response) -> tuple[str, int]:
    """The client side of the connection the response came on (the same one: a kept-alive connection)."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


def raw_get(port: int, target: str) -> bytes:
    """The answer to ``GET target``, sent byte for byte (an HTTP client library would normalise it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return b"".join(iter(lambda: conn.recv(65536), b""))


@BOTH_DOORS
def test_a_share_of_safe_requests_is_copied_with_the_clients_request(
    echo_backends, make_front_door, comparator
):
    front = make_front_door(shadow_manifest(echo_backends, comparator.address))
    sent = 1200
    with front.client() as client:
        for i in range(sent):
            response = client.get(
                f"/api/sampled/{i}/?page={i}&q=a%20b",
                # two clients, each sending half of the requests
                headers={"Authorization": f"Token client{i % 2}", "X-Cutover-Shadow-Route": "spoofed"},
            )
            assert answered_by(response) == "legacy"
    copies = comparator.settle()
    share = len(copies) / sent
    assert abs(share - 0.30) <= 0.05, f"{len(copies)} copies of {sent} requests"
    host = f"127.0.0.1:{front.port}"
    for copy in copies:
        assert copy.method == "GET" and copy.body_length == 0
        i = copy.target.split("/")[3]
        assert copy.target == f"/api/sampled/{i}/?page={i}&q=a%20b"  # the client's URI and query, as sent
        assert copy.header("Authorization") == f"Token client{int(i) % 2}"  # the client's own headers
        assert copy.header("X-Cutover-Shadow-Route") == "sampled"  # the client's value replaced
        assert copy.header("Host") == host  # the original Host (Envoy would append "-shadow")
        assert copy.header("X-Forwarded-Host") == host
        assert copy.header("X-Forwarded-For") == "127.0.0.1"
        assert copy.header("X-Forwarded-Proto") == "http"
        assert copy.header("Content-Length") is None and copy.header("Transfer-Encoding") is None
    # sampled per request, not per client: each client has about the share of its requests copied (a
    # split by client would copy all or none of them)
    for client_token in ("Token client0", "Token client1"):
        mine = sum(c.header("Authorization") == client_token for c in copies)
        assert abs(mine / (sent / 2) - 0.30) <= 0.08, f"{mine} copies of {client_token}'s {sent // 2}"

    # a route without shadow sends no copy; the route header never reaches the apps
    comparator.clear()
    with front.client() as client:
        for _ in range(100):
            response = client.get("/api/users/")
            assert answered_by(response) == "legacy"
            assert "x-cutover-shadow-route" not in response.json()["headers"]
        assert "x-cutover-shadow-route" not in client.get("/api/sampled/1/").json()["headers"]
    assert [c for c in comparator.settle() if not c.target.startswith("/api/sampled/")] == []


@BOTH_DOORS
def test_the_copy_has_the_target_the_client_sent(echo_backends, make_front_door, comparator, door_kind):
    """nginx copies the request URI as the client sent it; Envoy, as it forwards it to the apps: the path
    normalised (slashes merged, dots resolved), the query string untouched."""
    front = make_front_door(shadow_manifest(echo_backends, comparator.address))
    target = "/api/copied/a//b/./c/?next=%2Fapi%2F&q=x+y&q=%C3%A9"
    answer = raw_get(front.port, target)
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"backend": "modern"' in answer
    (copy,) = comparator.wait_for(1)
    sent = target if door_kind == "nginx" else "/api/copied/a/b/c/?next=%2Fapi%2F&q=x+y&q=%C3%A9"
    assert copy.target == sent


@BOTH_DOORS
def test_no_client_request_reaches_the_copies_location(echo_backends, make_front_door, comparator):
    """nginx's copies go through "//cutover-shadow/<location>", a URI no client can send: nginx merges
    the slashes of a client's URI before it picks a location. Such a request is the default route's."""
    front = make_front_door(shadow_manifest(echo_backends, comparator.address))
    for key in range(1, 12):
        for target in (f"//cutover-shadow/l{key}", f"/cutover-shadow/l{key}"):
            answer = raw_get(front.port, target)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
            assert b"x-cutover-route: default" in answer.lower() and b'"backend": "legacy"' in answer
    assert comparator.settle() == []


@BOTH_DOORS
def test_writes_are_never_copied_and_every_safe_method_is(echo_backends, make_front_door, comparator):
    front = make_front_door(shadow_manifest(echo_backends, comparator.address))
    with front.client() as client:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for i in range(50):
                response = client.request(method, f"/api/copied/{i}/", json={"n": i})
                assert answered_by(response) == "modern"
                assert response.json()["body_length"] > 0
    assert comparator.settle() == []
    safe = {"GET": 20, "HEAD": 20, "OPTIONS": 20}
    with front.client() as client:
        for method, count in safe.items():
            for i in range(count):
                response = client.request(method, f"/api/copied/{i}/?m={method}")
                assert response.status_code == 200
    copies = comparator.wait_for(sum(safe.values()))
    copies = comparator.settle()
    assert Counter(c.method for c in copies) == safe
    assert all(c.target == f"/api/copied/{c.target.split('/')[3]}/?m={c.method}" for c in copies)
    assert {c.header("X-Cutover-Shadow-Route") for c in copies} == {"copied"}


@BOTH_DOORS
def test_no_copy_carries_a_body(echo_backends, make_front_door, comparator, door_kind):
    """A GET with a body (rare, and meaningless in HTTP): nginx copies it without the body, Envoy does
    not copy it; either way the comparator never reads a body. The backend gets the request as sent."""
    front = make_front_door(shadow_manifest(echo_backends, comparator.address))
    with front.client() as client:
        for _ in range(5):
            response = client.request("GET", "/api/copied/1/", content=b"a body")
            assert answered_by(response) == "modern" and response.json()["body_length"] == 6
    copies = comparator.settle()
    assert len(copies) == (5 if door_kind == "nginx" else 0)
    assert all(c.body_length == 0 and c.header("Content-Length") is None for c in copies)


@BOTH_DOORS
def test_a_stopped_comparator_costs_the_clients_nothing(echo_backends, make_front_door, door_kind):
    """Nothing listens on the comparator's address: every copy's connection is refused. Every client
    request is answered by its backend. nginx logs the first refusal and then pauses copies (5 s), so
    the error log gets a line per pause, not per copy; Envoy logs none, and ejects the comparator for
    5 s, which likewise makes one connection attempt per pause."""
    front = make_front_door(shadow_manifest(echo_backends, f"127.0.0.1:{free_port()}"))
    with front.client() as client:
        for i in range(200):
            assert answered_by(client.get(f"/api/copied/{i}/")) == "modern"
            assert answered_by(client.get(f"/api/sampled/{i}/")) == "legacy"
    if door_kind == "nginx":
        time.sleep(0.5)
        errors = [line for line in front.nginx.error_log.read_text().splitlines() if "[error]" in line]
        assert 1 <= len(errors) <= 4, errors
        assert all("cutover-shadow" in line for line in errors)
    else:  # a failed copy is a counter of the shadow cluster, never a log line
        assert "shadow" not in front.door.stderr_log.read_text()
        # and the refused comparator is ejected for 5 s: the next copies make no connection at all
        assert 1 <= envoy_stat(front, "cluster.shadow.upstream_cx_connect_fail") <= 4
        assert envoy_stat(front, "cluster.shadow.upstream_cx_none_healthy") >= 200


@BOTH_DOORS
def test_a_hung_comparator_delays_no_request_beyond_the_timeouts(echo_backends, make_front_door, door_kind):
    """The comparator accepts connections and never answers. Every client request is answered, and so is
    the next request on the same kept-alive connection.

    nginx does not read the next request of a connection until the copy of the previous one is done, so a
    hung comparator delays it by at most proxy_connect_timeout + proxy_read_timeout (100 ms + 1 s), and
    only for the first copy after each 5 s pause (a timed-out copy pauses them all). Envoy never delays
    anything: its copies are fire-and-forget. Asserted with a generous bound (a shared 2-core machine).
    """
    hung = Hung(free_port())
    hung.start()
    try:
        front = make_front_door(shadow_manifest(echo_backends, f"127.0.0.1:{hung.port}"))
        with front.client(limits=httpx.Limits(max_connections=1)) as client:
            slowest = 0.0
            connections = set()
            for i in range(30):
                started = time.monotonic()
                response = client.get(f"/api/copied/{i}/")
                slowest = max(slowest, time.monotonic() - started)
                assert answered_by(response) == "modern"
                connections.add(connection_of(response))
        assert len(connections) == 1  # every request on the same kept-alive connection
        assert slowest < 5, slowest
        assert hung.accepted >= 1  # the copies did reach it
        if door_kind == "envoy":
            # and Envoy gave each copy up after max_stream_duration (1 s): none waits forever
            deadline = time.monotonic() + 10
            while envoy_stat(front, "cluster.shadow.upstream_rq_max_duration_reached") < 1:
                assert time.monotonic() < deadline, "no copy to the hung comparator was given up"
                time.sleep(0.1)
    finally:
        hung.stop()


def envoy_stat(front, name: str) -> int:
    transport = httpx.HTTPTransport(uds=str(front.door.admin_socket))
    with httpx.Client(transport=transport, base_url="http://envoy-admin", timeout=5) as admin:
        stats = admin.get("/stats", params={"format": "json", "filter": f"^{name}$"}).json()["stats"]
    return sum(int(s.get("value", 0)) for s in stats if s.get("name") == name)


@BOTH_DOORS
def test_a_manifest_with_shadowed_routes_is_accepted_by_the_front_door(door_kind):
    routes = (
        SHADOWED_ROUTES
        + """
[[routes]]
id = "orders-read"
match = "pattern"
path = "^/api/orders/[0-9]+/$"
methods = ["GET", "HEAD", "POST"]
mode = "canary"
percent = 40
shadow = 5
"""
    )
    text = manifest_text("127.0.0.1:8001", "127.0.0.1:8002", routes)
    every_api_route = text.replace('mode = "legacy"\nsticky = "authorization"', 'mode = "legacy"\nshadow = 1')
    manifest = parse_manifest(every_api_route)
    assert [(r.id, r.shadow) for r in manifest.shadowed] == [
        ("users", 1),
        ("users-me", 1),
        ("user-detail", 1),
        ("sampled", 30),
        ("copied", 100),
        ("orders-read", 5),
    ]
    assert manifest.shadow_servers == ("127.0.0.1:8003",)  # the comparator's default address
    assert manifest.route("orders-read").shadow_methods == ("GET", "HEAD")
    if door_kind == "nginx":
        check_rendered(render(manifest, admin="127.0.0.1:9"))  # nginx -t
    else:
        envoy.check_rendered(envoy.render(manifest))  # envoy --mode validate
        # the running Envoy's bootstrap has the comparator's cluster whatever the routes' shares
        unshadowed = parse_manifest(text.replace("shadow = ", "# shadow = "))
        assert not unshadowed.shadowed
        running = {"listen": "127.0.0.1:8000", "access_log": "a.log", "routes_file": Path("routes.json")}
        assert envoy.bootstrap(manifest, **running) == envoy.bootstrap(unshadowed, **running)


@BOTH_DOORS
def test_a_share_change_is_live_for_envoy_and_a_graceful_reload_for_nginx(
    echo_backends, make_front_door, comparator, door_kind
):
    front = make_front_door(shadow_manifest(echo_backends, comparator.address))
    bootstrap = front.door.bootstrap_path.read_text() if door_kind == "envoy" else None
    text = front.manifest.read_text()
    front.manifest.write_text(text.replace("shadow = 30", "shadow = 100"))
    result = move_route(front.manifest, front.door, "users", "modern")  # applies the file, hand edit included
    assert result.live == (door_kind == "envoy") and result.reloaded == (door_kind == "nginx")
    if bootstrap is not None:
        assert front.door.bootstrap_path.read_text() == bootstrap  # the route table alone changed
    with front.client() as client:
        for i in range(20):
            assert answered_by(client.get(f"/api/sampled/{i}/")) == "legacy"
    assert len(comparator.wait_for(20)) == 20


# --- validation ---------------------------------------------------------------------------------------

USERS = 'path = "/api/users/"\nmethods = ["*"]\nmode = "legacy"'
AUTH = 'methods = ["POST"]\nmode = "legacy"'
SHADOW_TABLE = '[default]\nbackend = "legacy"'
# case: (text in the demo manifest, replacement, what the one-line error must say)
BAD = {
    "over 100": (
        USERS,
        USERS + "\nshadow = 101",
        "route 'users': shadow must be an integer percentage from 0 to 100 (got 101)",
    ),
    "negative": (USERS, USERS + "\nshadow = -1", "(got -1)"),
    "a string": (USERS, USERS + '\nshadow = "30"', "(got '30')"),
    "a fraction": (USERS, USERS + "\nshadow = 30.5", "(got 30.5)"),
    "a boolean": (USERS, USERS + "\nshadow = true", "(got True)"),
    "writes only": (
        AUTH,
        AUTH + "\nshadow = 10",
        "route 'auth-token': shadow copies only GET, HEAD and OPTIONS requests and the route covers POST",
    ),
    "bad comparator address": (
        SHADOW_TABLE,
        '[backends.shadow]\nservers = ["127.0.0.1"]\n\n' + SHADOW_TABLE,
        "[backends.shadow]: server '127.0.0.1' is not 'host:port'",
    ),
    "no comparator server": (
        SHADOW_TABLE,
        "[backends.shadow]\nservers = []\n\n" + SHADOW_TABLE,
        "[backends.shadow] servers must list at least one",
    ),
    "typo in the comparator table": (
        SHADOW_TABLE,
        '[backends.shadow]\nserver = ["127.0.0.1:8003"]\n\n' + SHADOW_TABLE,
        "unknown key 'server'",
    ),
    "comparator on an app's address": (
        SHADOW_TABLE,
        '[backends.shadow]\nservers = ["127.0.0.1:8001"]\n\n' + SHADOW_TABLE,
        "server 127.0.0.1:8001 is listed in both backends.legacy and backends.shadow",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_shadow_setting_is_one_line_naming_the_file_and_route(case):
    old, new, expected = BAD[case]
    assert old in demo_text()
    with pytest.raises(ManifestError) as exc:
        parse_manifest(demo_text().replace(old, new, 1), source="routes.toml")
    message = str(exc.value)
    assert message.startswith("routes.toml: ") and "\n" not in message
    assert expected in message


def test_the_default_comparator_address_is_checked_only_once_a_route_shadows():
    on_8003 = demo_text().replace('servers = ["127.0.0.1:8002"]', 'servers = ["127.0.0.1:8003"]')
    assert parse_manifest(on_8003).shadow_servers == ("127.0.0.1:8003",)  # unused: nothing is sent there
    with pytest.raises(ManifestError, match="listed in both backends.modern and backends.shadow"):
        parse_manifest(on_8003.replace(USERS, USERS + "\nshadow = 10"))


def test_every_write_method_is_left_out_whatever_the_routes_methods():
    manifest = parse_manifest(
        manifest_text("127.0.0.1:1", "127.0.0.1:2", SHADOWED_ROUTES).replace(AUTH, AUTH + "\nshadow = 0")
    )
    assert manifest.route("copied").shadow_methods == ("GET", "HEAD", "OPTIONS")
    assert manifest.route("auth-token").shadow_methods == ()
    nginx_text = render(manifest)
    assert (
        "copied:GET 1;" in nginx_text and "copied:POST" not in nginx_text and "auth-token:" not in nginx_text
    )


def test_routes_shows_each_routes_shadow_share_and_the_comparator(tmp_path: Path):
    manifest = tmp_path / "routes.toml"
    manifest.write_text(shadow_manifest_at("127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:9003"))
    where = ["--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx")]
    where += ["--report", str(tmp_path / "no-report.json"), "--repo", str(REPO)]
    runner = CliRunner()
    result = runner.invoke(app, ["routes", *where, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    shares = {r["id"]: r["shadow"] for r in data["routes"]}
    assert shares == {r.id: 0 for r in parse_manifest(demo_text()).routes} | {"sampled": 30, "copied": 100}
    assert data["shadow_servers"] == ["127.0.0.1:9003"]
    table = runner.invoke(app, ["routes", *where], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "shadow %" in table.stdout and "comparator at 127.0.0.1:9003" in table.stdout
    sampled = next(line for line in table.stdout.splitlines() if "sampled" in line)
    assert " 30 " in sampled
