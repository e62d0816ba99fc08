"""`cutover render / routes / move / rollback` through the CLI: the parity gate, and failures that change
nothing (a broken manifest or a configuration nginx rejects leaves the previous configuration serving).

Backends where traffic flows: two tiny real uvicorn servers (``echo_app.py``) behind real nginx.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.proxy.gate import parity_result

from .test_manifest import demo_text

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cutover: error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "routes.toml"
    path.write_text(demo_text())
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clean git work tree: the code revision the parity report must match."""
    root = tmp_path / "repo"
    root.mkdir()
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (root / "app.py").write_text("print('v1')\n")
    subprocess.run([*git, "add", "app.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "v1"], check=True)
    return root


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()


def write_report(path: Path, commit: str, routes: dict[str, bool], dirty: bool = False) -> Path:
    """A report in the parity engine's format 1 (see cutover/parity/report.py)."""
    path.write_text(
        json.dumps(
            {
                "format": 1,
                "generated_at": "2026-11-28T02:00:00Z",
                "revision": {"commit": commit, "dirty": dirty, "tree": ""},
                "routes": {
                    route: {
                        "status": "green" if green else "red",
                        "cases": 10,
                        "matched": 10 if green else 9,
                        "mismatched": 0 if green else 1,
                        "errors": 0,
                        "noise": 0,
                    }
                    for route, green in routes.items()
                },
            }
        )
    )
    return path


def move(manifest: Path, tmp_path: Path, *args: str):
    return cli("move", *args, "--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"))


# --- render and routes ------------------------------------------------------------------------------------


def test_render_prints_a_configuration_nginx_accepted(manifest: Path, tmp_path: Path):
    result = cli("render", "--manifest", str(manifest), "--listen", "127.0.0.1:18123")
    assert result.exit_code == 0, result.output
    assert "listen 127.0.0.1:18123;" in result.stdout and "upstream cutover_modern" in result.stdout
    out = tmp_path / "nginx.conf"
    result = cli("render", "--manifest", str(manifest), "--output", str(out))
    assert result.exit_code == 0 and "nginx -t: ok" in result.stderr
    assert "listen 127.0.0.1:8000;" in out.read_text()


def test_render_of_a_broken_manifest_is_one_line_and_exit_2(manifest: Path):
    manifest.write_text(demo_text().replace('mode = "legacy"', 'mode = "sideways"', 1))
    result = cli("render", "--manifest", str(manifest))
    assert result.exit_code == 2
    assert "route 'auth-token': mode must be one of legacy, canary, modern" in one_error_line(result)


def test_routes_shows_modes_addresses_and_parity(manifest: Path, tmp_path: Path, repo: Path):
    report = write_report(tmp_path / "report.json", head(repo), {"users": True, "users-me": False})
    assert (
        move(manifest, tmp_path, "user-detail", "--to", "canary", "--percent", "15", "--force").exit_code == 0
    )
    where = ["--manifest", str(manifest), "--report", str(report), "--proxy-dir", str(tmp_path / "nginx")]
    where += ["--repo", str(repo)]
    result = cli("routes", *where, "--json")
    assert result.exit_code == 0, result.output
    routes = {r["id"]: r for r in json.loads(result.stdout)["routes"]}
    assert routes["user-detail"]["mode"] == "canary" and routes["user-detail"]["percent"] == 15
    assert routes["user-detail"]["servers"] == ["modern 127.0.0.1:8002", "legacy 127.0.0.1:8001"]
    assert routes["users"]["parity"]["status"] == "green"
    assert routes["users-me"]["parity"]["status"] == "red"
    assert routes["auth-token"]["parity"]["status"] == "missing"
    assert routes["users"]["gate"] is None  # green for this very commit: it may move
    assert "mismatched" in routes["users-me"]["gate"]
    assert "no cases for auth-token" in routes["auth-token"]["gate"]
    table = cli("routes", *where)
    assert table.exit_code == 0
    for text in ("auth-token", "user-detail", "canary", "15", "default", "nginx: not running"):
        assert text in table.stdout
    (repo / "app.py").write_text("changed\n")  # the green result no longer vouches for the code
    stale = json.loads(cli("routes", *where, "--json").stdout)["routes"]
    users = next(r for r in stale if r["id"] == "users")
    assert users["parity"]["status"] == "green" and "uncommitted changes" in users["gate"]


def test_routes_shows_a_bracketed_pattern_and_file_name_as_written(tmp_path: Path):
    """A regex's character class and a file's name are the project's text, not rich markup: nothing of
    them is eaten, and no unknown "style" breaks the table."""
    pattern = r"^/api/articles\\.([a-z0-9]+)/?$"  # in a TOML basic string, `\\.` is the regex's `\.`
    manifest = tmp_path / "routes[prod].toml"
    manifest.write_text(demo_text().replace('path = "^/api/users/[^/]+/$"', f'path = "{pattern}"'))
    result = cli("routes", "--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"), "--report",
                 str(tmp_path / "report.json"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert r"pattern ^/api/articles\.([a-z0-9]+)/?$" in result.stdout, result.stdout
    assert f"routes ({manifest})" in result.stdout

    moved = move(manifest, tmp_path, "user-detail", "--to", "canary", "--percent", "15", "--force")
    assert moved.exit_code == 0, moved.output
    assert f"user-detail: legacy -> canary 15% ({manifest} updated)" in moved.stdout


def test_routes_keeps_each_route_on_one_line_in_an_80_column_log(tmp_path: Path, monkeypatch):
    """Off a terminal rich takes 80 columns: the table is as wide as its cells instead, each route one line
    with its id, pattern and place whole."""
    from cutover.commands import routes as routes_command

    monkeypatch.setattr(routes_command.console, "width", 80)  # what a CI log gets (conftest sets 200)
    manifest = tmp_path / "routes.toml"
    manifest.write_text(demo_text())
    result = cli("routes", "--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"), "--report",
                 str(tmp_path / "report.json"))  # fmt: skip
    assert result.exit_code == 0, result.output
    detail = [line for line in result.stdout.splitlines() if "user-detail" in line]
    assert len(detail) == 1 and "pattern ^/api/users/[^/]+/$" in detail[0] and "…" not in detail[0], detail


# --- the parity gate --------------------------------------------------------------------------------------


def gated(manifest: Path, tmp_path: Path, report: Path, repo: Path, *args: str):
    return move(manifest, tmp_path, *args, "--report", str(report), "--repo", str(repo))


def test_move_to_modern_with_a_green_report_for_this_revision(manifest: Path, tmp_path: Path, repo: Path):
    report = write_report(tmp_path / "report.json", head(repo), {"users": True})
    result = gated(manifest, tmp_path, report, repo, "users", "--to", "modern")
    assert result.exit_code == 0, result.output
    assert "users: legacy -> modern" in result.stdout
    assert "not running" in result.stdout
    assert 'id = "users"' in manifest.read_text()
    assert '    "~^users:" modern;' in (tmp_path / "nginx" / "nginx.conf").read_text()  # the rendered state


@pytest.mark.parametrize(
    ("situation", "expected"),
    [
        ("red", "shows 'users' red"),
        ("no report", "no parity report at"),
        ("other route only", "no cases for users"),
        ("older revision", "the parity report is for revision"),
        ("dirty work tree", "the work tree has uncommitted changes"),
        ("report from a dirty tree", "made from a work tree with uncommitted changes"),
    ],
)
def test_move_toward_modern_is_refused_without_a_green_report_for_this_revision(
    manifest: Path, tmp_path: Path, repo: Path, situation: str, expected: str
):
    report = tmp_path / "report.json"
    commit = head(repo)
    if situation == "red":
        write_report(report, commit, {"users": False})
    elif situation == "other route only":
        write_report(report, commit, {"users-me": True})
    elif situation == "older revision":
        write_report(report, "0" * 40, {"users": True})
    elif situation == "dirty work tree":
        write_report(report, commit, {"users": True})
        (repo / "app.py").write_text("print('v2, not committed')\n")
    elif situation == "report from a dirty tree":
        write_report(report, commit, {"users": True}, dirty=True)
    before = manifest.read_text()
    for args in (["--to", "modern"], ["--to", "canary", "--percent", "5"]):
        result = gated(manifest, tmp_path, report, repo, "users", *args)
        assert result.exit_code == 1, result.output
        line = one_error_line(result)
        assert "refusing to move 'users'" in line and expected in line and "--force" in line
    assert manifest.read_text() == before


@pytest.mark.parametrize("policy", ["fail", "warn"])
def test_a_blocking_call_refuses_the_move_or_is_said_as_it_is_allowed(
    manifest: Path, tmp_path: Path, repo: Path, policy: str
):
    # [parity] blocking, recorded in the report by `cutover parity`: "fail" refuses, "warn" moves and says so.
    report = write_report(tmp_path / "report.json", head(repo), {"users": True})
    data = json.loads(report.read_text())
    data["blocking"] = {"checked": True, "policy": policy}
    data["routes"]["users"].update(
        status="red" if policy == "fail" else "green", blocked=1,
        blocking=[{"case": "users/list", "kind": "call", "function": "time.sleep", "via": [],
                   "frame": "service/users.py:9 in list_users", "held_ms": 20.1}],
    )  # fmt: skip
    report.write_text(json.dumps(data))
    # `cutover routes` says it too: the table's parity cell and the JSON's warnings.
    where = ["--manifest", str(manifest), "--report", str(report), "--proxy-dir", str(tmp_path / "nginx"),
             "--repo", str(repo)]  # fmt: skip
    listed = {r["id"]: r for r in json.loads(cli("routes", *where, "--json").stdout)["routes"]}["users"]
    table = next(line for line in cli("routes", *where).stdout.splitlines() if line.startswith("│ users "))
    blocked = "1 case(s) made a blocking call on the event loop (first: time.sleep at service/users.py:9"
    if policy == "warn":
        (warning,) = listed["parity"]["warnings"]
        assert warning.startswith(blocked) and listed["gate"] is None
        assert ", with a warning" in table
    else:
        assert listed["parity"]["warnings"] == [] and blocked in listed["gate"]
        assert "with a warning" not in table
    result = gated(manifest, tmp_path, report, repo, "users", "--to", "modern")
    if policy == "fail":
        assert result.exit_code == 1, result.output
        assert "refusing to move 'users'" in one_error_line(result) and blocked in result.stderr
    else:
        assert result.exit_code == 0, result.output
        assert f"cutover: gate: parity green, with a warning: {blocked}" in result.stderr
        assert 'mode = "modern"' in manifest.read_text()


def test_force_overrides_the_gate_with_a_warning(manifest: Path, tmp_path: Path, repo: Path):
    result = gated(manifest, tmp_path, tmp_path / "absent.json", repo, "users", "--to", "modern", "--force")
    assert result.exit_code == 0, result.output
    assert "cutover: warning: moving 'users' toward modern without a green parity result" in result.stderr
    assert 'mode = "modern"' in manifest.read_text()


def test_rollback_and_shrinking_a_canary_are_never_gated(manifest: Path, tmp_path: Path, repo: Path):
    red = write_report(tmp_path / "report.json", head(repo), {"users": False})
    assert (
        gated(
            manifest, tmp_path, red, repo, "users", "--to", "canary", "--percent", "40", "--force"
        ).exit_code
        == 0
    )
    smaller = gated(manifest, tmp_path, red, repo, "users", "--to", "canary", "--percent", "10")
    assert smaller.exit_code == 0, smaller.output
    assert smaller.stderr == ""
    result = cli("rollback", "users", "--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"))
    assert result.exit_code == 0, result.output
    assert "users: canary 10% -> legacy" in result.stdout
    assert manifest.read_text() == demo_text()


def test_user_mistakes_are_one_line(manifest: Path, tmp_path: Path):
    for args, expected in [
        (["nope", "--to", "modern", "--force"], "no route with id 'nope'"),
        (["users", "--to", "sideways"], "--to must be legacy, canary or modern"),
        (["users", "--to", "canary", "--force"], "needs --percent"),
        (["admin", "--to", "modern", "--force"], "pinned to legacy"),
    ]:
        result = move(manifest, tmp_path, *args)
        assert result.exit_code == 2, result.output
        assert expected in one_error_line(result)
    assert manifest.read_text() == demo_text()


# --- failures leave the previous configuration serving ---------------------------------------------------


def flip(door, *args: str):
    return cli(*args, "--manifest", str(door.manifest), "--proxy-dir", str(door.nginx.prefix))


def test_a_broken_manifest_leaves_the_previous_configuration_serving(front_door):
    assert flip(front_door, "move", "users", "--to", "modern", "--force").exit_code == 0
    config = front_door.nginx.conf_path.read_text()
    workers = front_door.nginx.worker_pids()
    broken = front_door.manifest.read_text().replace("[default]", "[default\n")  # a hand edit gone wrong
    front_door.manifest.write_text(broken)

    result = flip(front_door, "move", "users-me", "--to", "modern", "--force")
    assert result.exit_code == 2
    assert "not valid TOML" in one_error_line(result)
    assert front_door.manifest.read_text() == broken
    assert front_door.nginx.conf_path.read_text() == config
    assert front_door.nginx.worker_pids() == workers  # not reloaded
    with front_door.client() as client:
        assert client.get("/api/users/").headers["x-cutover-backend"] == "modern"
        assert client.get("/api/users/me/").headers["x-cutover-backend"] == "legacy"
    assert flip(front_door, "rollback", "users").exit_code == 2  # still broken: nothing to render


def test_a_configuration_nginx_rejects_leaves_the_previous_configuration_serving(front_door):
    config = front_door.nginx.conf_path.read_text()
    workers = front_door.nginx.worker_pids()
    before = front_door.manifest.read_text()
    # valid TOML and a valid manifest, but nginx cannot resolve the host
    text = before.replace('servers = ["127.0.0.1:', 'servers = ["no-such-host.invalid:1", "127.0.0.1:', 1)
    front_door.manifest.write_text(text)

    result = flip(front_door, "move", "users", "--to", "modern", "--force")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "nginx rejected the configuration" in line and "no-such-host.invalid" in line
    assert front_door.manifest.read_text() == text  # the move was not written
    assert front_door.nginx.conf_path.read_text() == config
    assert front_door.nginx.worker_pids() == workers
    with front_door.client() as client:
        response = client.get("/api/users/")
    assert (response.status_code, response.headers["x-cutover-backend"]) == (200, "legacy")


def test_move_on_a_running_front_door_switches_it_live_without_a_reload(front_door):
    workers = front_door.nginx.worker_pids()
    result = flip(front_door, "move", "users", "--to", "modern", "--force")
    assert result.exit_code == 0
    assert "switched live, no reload" in result.stdout
    with front_door.client() as client:
        assert client.get("/api/users/").headers["x-cutover-backend"] == "modern"
    result = flip(front_door, "rollback", "users")
    assert result.exit_code == 0 and "switched live, no reload" in result.stdout
    with front_door.client() as client:
        assert client.get("/api/users/").headers["x-cutover-backend"] == "legacy"
    assert front_door.nginx.worker_pids() == workers


def test_a_move_after_a_structural_hand_edit_reloads(front_door):
    # a new route is structure: the running configuration has no such location, so only a reload applies it
    front_door.manifest.write_text(
        front_door.manifest.read_text()
        + '\n[[routes]]\nid = "health"\nmatch = "exact"\npath = "/health/"\nmode = "legacy"\n'
    )
    result = flip(front_door, "move", "users", "--to", "modern", "--force")
    assert result.exit_code == 0 and "reloaded gracefully" in result.stdout
    with front_door.client() as client:
        assert client.get("/health/").headers["x-cutover-route"] == "health"
        assert client.get("/api/users/").headers["x-cutover-backend"] == "modern"
    # and the next move is live again
    result = flip(front_door, "move", "health", "--to", "modern", "--force")
    assert result.exit_code == 0 and "switched live" in result.stdout


def test_a_reload_nginx_refuses_puts_the_files_back_and_keeps_serving(front_door):
    # `nginx -t` does not bind sockets: a port taken by another process passes it and fails the reload.
    state = front_door.nginx.prefix / "cutover-proxy.json"
    config, manifest = front_door.nginx.conf_path.read_text(), front_door.manifest.read_text()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        state.write_text(json.dumps({"listen": f"127.0.0.1:{taken.getsockname()[1]}", "servers": {}}))
        result = flip(front_door, "move", "users", "--to", "modern", "--force")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "nginx kept its previous configuration" in line and "failed (98: Address" in line
    assert front_door.manifest.read_text() == manifest
    assert front_door.nginx.conf_path.read_text() == config
    with front_door.client() as client:
        assert client.get("/api/users/").headers["x-cutover-backend"] == "legacy"


def test_the_gate_reads_reports_the_same_with_or_without_the_parity_engine(tmp_path: Path, monkeypatch):
    report = write_report(tmp_path / "r.json", "a" * 40, {"users": True, "users-me": False}, dirty=True)
    ids = ["users", "users-me", "auth-token"]
    with_engine = [parity_result(report, i) for i in ids]
    monkeypatch.setitem(sys.modules, "cutover.parity.report", None)  # importing it now fails
    without = [parity_result(report, i) for i in ids]
    assert [(r.status, r.revision, r.dirty) for r in with_engine] == [
        ("green", "a" * 40, True),
        ("red", "a" * 40, True),
        ("missing", None, False),
    ]
    assert [(r.status, r.revision, r.dirty) for r in without] == [
        (r.status, r.revision, r.dirty) for r in with_engine
    ]
    assert parity_result(tmp_path / "absent.json", "users").status == "missing"
