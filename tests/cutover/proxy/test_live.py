"""Live routing (``cutover/proxy/live.py``) through real nginx: the admin endpoint's refusals, the manifest
as the source of truth across restarts, a move whose push fails changing nothing, and canary splits
identical to nginx's own ``split_clients``.

Backends: two tiny real uvicorn servers (``echo_app.py``).
"""

from __future__ import annotations

import json
import stat

import httpx
import pytest

from cutover.proxy import live
from cutover.proxy.apply import ProxyTarget, install_manifest, move_route, read_target
from cutover.proxy.manifest import set_route_mode
from cutover.proxy.nginx import Nginx

from .conftest import free_port, manifest_text


def admin_url(door) -> str:
    return f"http://{read_target(door.nginx).admin}{live.ADMIN_PATH}"


def view(door) -> live.LiveView:
    return live.AdminClient(read_target(door.nginx).admin, live.ensure_token(door.nginx.prefix)).read()


def served_by(door, path: str = "/api/users/") -> str:
    with door.client() as client:
        response = client.get(path)
    assert response.status_code == 200
    return response.headers["x-cutover-backend"]


def test_the_token_is_private_and_never_logged(front_door):
    token_file = front_door.nginx.token_path
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    move_route(front_door.manifest, front_door.nginx, "users", "modern")
    token = token_file.read_text().strip()
    for path in [front_door.nginx.conf_path, *(front_door.nginx.prefix / "logs").iterdir()]:
        assert token not in path.read_text(errors="replace"), path


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Bearer", "Basic x", "TOKEN"])
def test_an_unauthenticated_or_wrong_token_change_is_refused_and_changes_nothing(front_door, authorization):
    token = live.ensure_token(front_door.nginx.prefix)
    before = view(front_door)
    if authorization == "TOKEN":  # the right token with one character changed
        authorization = "Bearer " + token[:-1] + ("a" if token[-1] != "a" else "b")
    headers = {"Authorization": authorization} if authorization else {}
    body = {"revision": before.revision, "routes": {"users": ["modern", 0]}}
    for method in ("GET", "POST"):
        response = httpx.request(method, admin_url(front_door), headers=headers, json=body, trust_env=False)
        assert response.status_code == 401, response.text
        assert token not in response.text
    assert view(front_door) == before and not before.pushed
    assert served_by(front_door) == "legacy"


def test_the_admin_endpoint_is_not_on_the_public_port(front_door):
    token = live.ensure_token(front_door.nginx.prefix)
    before = view(front_door)
    body = {"revision": before.revision, "routes": {"users": ["modern", 0]}}
    with front_door.client() as client:
        response = client.post(live.ADMIN_PATH, json=body, headers={"Authorization": f"Bearer {token}"})
    # an ordinary request of the default route, answered by Django (the echo backend), not by njs
    assert response.status_code == 200
    assert response.headers["x-cutover-route"] == "default"
    assert response.json()["backend"] == response.headers["x-cutover-backend"] == "legacy"
    assert view(front_door) == before
    assert read_target(front_door.nginx).admin.startswith("127.0.0.1:")


def test_a_push_for_another_revision_or_an_invalid_state_is_refused(front_door):
    client = live.AdminClient(read_target(front_door.nginx).admin, live.ensure_token(front_door.nginx.prefix))
    before = client.read()
    with pytest.raises(live.LiveError, match="409"):
        client.push("other-revision", {"users": live.RouteState("modern")})
    for routes in ({"admin": live.RouteState("modern")}, {"users": live.RouteState("canary", 100)}):
        with pytest.raises(live.LiveError, match="400"):
            client.push(before.revision, routes)  # a pinned route; a share out of range
    assert client.read() == before


def test_after_a_restart_the_state_comes_from_the_manifest_file(front_door, make_front_door):
    move_route(front_door.manifest, front_door.nginx, "users", "modern")
    assert served_by(front_door) == "modern" and "users" in view(front_door).pushed  # every movable route
    # a plain restart: the dictionary is gone; the installed configuration was rendered from the file
    target = read_target(front_door.nginx)
    front_door.nginx.stop(front_door.proc)
    front_door.proc = front_door.nginx.start()
    assert served_by(front_door) == "modern"
    assert not view(front_door).pushed  # from the rendered manifest, not from a pushed state
    # `cutover up` renders the file again at start: a hand edit of the file is what serves
    front_door.nginx.stop(front_door.proc)
    text = front_door.manifest.read_text()
    front_door.manifest.write_text(set_route_mode(text, "users", "legacy", source="hand edit"))
    install_manifest(front_door.manifest, front_door.nginx, target)
    front_door.proc = front_door.nginx.start()
    assert served_by(front_door) == "legacy" and not view(front_door).pushed


def test_a_move_whose_live_push_fails_changes_neither_the_file_nor_the_running_state(front_door, monkeypatch):
    files = front_door.manifest.read_text(), front_door.nginx.conf_path.read_text()
    before = view(front_door)
    push = live.AdminClient.push

    def stale(self, revision, routes):  # nginx itself refuses (409): e.g. reloaded by someone meanwhile
        if routes.get("users") == live.RouteState("modern"):
            revision = "stale-revision"
        return push(self, revision, routes)

    monkeypatch.setattr(live.AdminClient, "push", stale)
    with pytest.raises(live.LiveError, match="nothing changed.*409"):
        move_route(front_door.manifest, front_door.nginx, "users", "modern")
    assert (front_door.manifest.read_text(), front_door.nginx.conf_path.read_text()) == files
    assert view(front_door).routes == before.routes
    assert served_by(front_door) == "legacy"


def test_an_unreachable_admin_endpoint_changes_nothing(front_door):
    files = front_door.manifest.read_text(), front_door.nginx.conf_path.read_text()
    state = front_door.nginx.prefix / "cutover-proxy.json"
    data = json.loads(state.read_text())
    state.write_text(json.dumps({**data, "admin": f"127.0.0.1:{free_port()}"}))
    with pytest.raises(live.LiveError, match="did not answer"):
        move_route(front_door.manifest, front_door.nginx, "users", "modern")
    assert (front_door.manifest.read_text(), front_door.nginx.conf_path.read_text()) == files
    state.write_text(json.dumps(data))
    assert served_by(front_door) == "legacy"


PERCENTS = (1, 10, 33, 50, 99)


def test_a_live_canary_sends_every_key_where_split_clients_sends_it(echo_backends, tmp_path):
    """The same configuration with nginx's own split_clients beside the live split, for 2,000 keys."""
    manifest = tmp_path / "routes.toml"
    manifest.write_text(manifest_text(echo_backends.legacy.address, echo_backends.modern.address))
    nginx = Nginx(tmp_path / "nginx")
    port = free_port()
    install_manifest(manifest, nginx, ProxyTarget(listen=f"127.0.0.1:{port}"))
    conf = nginx.conf_path.read_text()
    splits = "".join(
        f'    split_clients "$cutover_key_authorization" $static_{p} {{\n        {p}% modern;\n        * legacy;\n    }}\n'
        for p in PERCENTS
    )
    headers = "".join(f"        add_header X-Static-{p} $static_{p} always;\n" for p in PERCENTS)
    conf = conf.replace("    server {\n", splits + "    server {\n", 1)
    conf = conf.replace("        proxy_redirect off;\n", "        proxy_redirect off;\n" + headers, 1)
    nginx.install(conf)
    proc = nginx.start()
    try:
        keys = [f"Token {i:040x}" for i in range(400)] + [f"Bearer é{i}\u00ff" for i in range(100)]
        for percent in PERCENTS:
            move_route(manifest, nginx, "user-detail", "canary", percent)
            mismatched = []
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                for key in keys:
                    r = client.get("/api/users/5/", headers={"Authorization": key.encode()})
                    if r.headers["x-cutover-backend"] != r.headers[f"x-static-{percent}"]:
                        mismatched.append(key)
            assert mismatched == [], (percent, mismatched[:5])
    finally:
        nginx.stop(proc)


def live_route_dir(door, route: str = "users"):
    return door.nginx.prefix / live.LIVE_DIR / view(door).revision / route


def test_a_move_swaps_in_one_file_per_bucket_and_no_javascript_runs_per_request(front_door):
    move_route(front_door.manifest, front_door.nginx, "users", "canary", 30)
    route = live_route_dir(front_door)
    assert route.is_symlink()  # replaced whole by each move (rename over the link)
    first = route.resolve()
    files = sorted(p.name for p in route.iterdir())
    assert files == sorted([f"{b}.modern" for b in range(30)] + [f"{b}.legacy" for b in range(30, 100)] + ["state"])
    assert (route / "state").read_text() == "canary 30"
    assert "js_set $cutover_live_backend" not in front_door.nginx.conf_path.read_text()
    move_route(front_door.manifest, front_door.nginx, "users", "modern")
    assert {p.name for p in route.iterdir()} == {f"{b}.modern" for b in range(100)} | {"state"}
    assert route.resolve() != first and not first.exists()  # the earlier state is removed
    assert sorted(p.name for p in route.parent.iterdir() if p.name.startswith(".users.")) == [route.resolve().name]
    assert served_by(front_door) == "modern"


def test_a_bucket_with_both_files_goes_to_legacy(front_door):
    """Never written so; if a hand or a crash leaves both, the location's last test (legacy) wins."""
    move_route(front_door.manifest, front_door.nginx, "users", "modern")
    assert served_by(front_door) == "modern"
    for b in range(live.BUCKETS):
        (live_route_dir(front_door) / f"{b}.legacy").write_text("")
    assert served_by(front_door) == "legacy"


def test_a_push_the_front_door_cannot_write_changes_nothing(front_door):
    before = view(front_door)
    route = live_route_dir(front_door)
    route.mkdir(parents=True)  # a directory where the route's link must go: the swap fails there
    (route / "state").write_text("legacy 0")
    manifest = front_door.manifest.read_text()
    with pytest.raises(live.LiveError, match="nothing changed.*cannot write the live directory"):
        move_route(front_door.manifest, front_door.nginx, "users", "modern")
    assert front_door.manifest.read_text() == manifest
    assert view(front_door).routes == before.routes and served_by(front_door) == "legacy"


def test_what_was_pushed_to_a_stopped_front_door_is_forgotten_at_the_next_install(front_door):
    move_route(front_door.manifest, front_door.nginx, "users", "modern")
    assert (front_door.nginx.prefix / live.LIVE_DIR).is_dir()
    target = read_target(front_door.nginx)
    front_door.nginx.stop(front_door.proc)
    install_manifest(front_door.manifest, front_door.nginx, target)
    assert not (front_door.nginx.prefix / live.LIVE_DIR).exists()
    front_door.proc = front_door.nginx.start()
    assert served_by(front_door) == "modern"  # from the manifest, as rendered


def test_a_move_that_leaves_its_route_says_what_it_did_put_into_service(front_door, tmp_path):
    """`cutover move R --to <where R is>` still puts the whole manifest into service: it must not say
    "nothing changed" when it applied the file's other edits."""
    from cutover.proxy.moves import Actor, move

    def again() -> str:
        outcome = move(
            "users", "legacy", None, manifest=front_door.manifest, door=front_door.nginx,
            actor=Actor("t", "cli"), audit_url=f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        )  # fmt: skip
        assert not outcome.changed
        return outcome.unchanged_text("users")

    assert again() == "users: already legacy; nothing changed"
    text = front_door.manifest.read_text()
    front_door.manifest.write_text(set_route_mode(text, "users-me", "modern", source="a hand edit"))
    assert again() == "users: already legacy; other routes switched live as the manifest now says (it was edited)"
    assert served_by(front_door, "/api/users/me/") == "modern"
    text = front_door.manifest.read_text()
    assert '"/api/users/me/"' in text
    front_door.manifest.write_text(text.replace('"/api/users/me/"', '"/api/users/self/"'))  # a path: structure
    assert again() == "users: already legacy; nginx reloaded gracefully to apply the manifest's other edits"
