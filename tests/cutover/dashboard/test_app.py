"""The dashboard over HTTP, served by uvicorn as `cutover dashboard` serves it: who may move (the token, a
session, its CSRF token, the page's own origin), bad input answered with a clear page and nothing moved,
the moves themselves (the CLI's: gate, manifest, audit log), and what the pages show from the parity
report and the shadow store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import closing

import httpx
import pytest
from typer.testing import CliRunner

from cutover.cli import app as cli
from cutover.exit_codes import ExitCode
from cutover.shadow.store import Comparison, FieldDifference, ShadowStore
from tests.cutover.dashboard.conftest import (
    TOKEN,
    audit_entries,
    differing_fields,
    flashes,
    history_rows,
    problem,
)
from tests.cutover.proxy.conftest import REPO, free_port


def test_a_move_without_a_session_is_refused_and_moves_nothing(dashboard):
    before = dashboard.sources.manifest.read_text()
    with dashboard.client() as client:
        page = client.get("/")
        assert page.status_code == 200  # viewing on loopback is open
        assert 'name="csrf" value=""' in page.text  # no session, no CSRF token
        response = client.post("/routes/orders/move", data={"action": "rollback", "csrf": ""})
    assert response.status_code == 403
    assert problem(response.text) == (
        "refused: nothing was moved; sign in with the access token that `cutover dashboard` printed when it started"
    )
    assert dashboard.sources.manifest.read_text() == before
    assert not dashboard.sources.door.conf_path.exists()  # nothing rendered either


def test_a_move_needs_the_sessions_own_csrf_token(dashboard):
    client, csrf = dashboard.signed_in()
    other, other_csrf = dashboard.signed_in()
    assert csrf and other_csrf and csrf != other_csrf
    before = dashboard.sources.manifest.read_text()
    with closing(client), closing(other):
        for given in (None, "", "wrong", other_csrf):
            form = {"action": "rollback"} | ({} if given is None else {"csrf": given})
            response = client.post("/routes/orders/move", data=form)
            assert response.status_code == 403, given
            assert "CSRF token is missing or out of date" in problem(response.text)
    assert dashboard.sources.manifest.read_text() == before


def test_a_move_posted_from_another_origin_is_refused(dashboard):
    client, csrf = dashboard.signed_in()
    before = dashboard.sources.manifest.read_text()
    with closing(client):
        for header in (
            {"origin": "http://evil.example"},
            {"referer": "http://evil.example/page"},
            {"origin": "null"},
        ):
            response = client.post(
                "/routes/orders/move", data={"action": "rollback", "csrf": csrf}, headers=header
            )
            assert response.status_code == 403, header
            assert "did not come from this dashboard" in problem(response.text)
        same = client.post(
            "/routes/orders/move",
            data={"action": "rollback", "csrf": csrf},
            headers={"origin": dashboard.url},
        )
    assert same.status_code == 303
    assert before != dashboard.sources.manifest.read_text()


def test_signing_out_closes_the_session(dashboard):
    client, csrf = dashboard.signed_in()
    with closing(client):
        assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
        assert "signed in" in client.get("/").text
        assert client.post("/logout", data={"csrf": csrf}).status_code == 303
        assert "signed in" not in client.get("/").text
        client.cookies.clear()
        response = client.post("/routes/orders/move", data={"action": "rollback", "csrf": csrf})
    assert response.status_code == 403
    assert dashboard.manifest_route("orders").mode == "modern"


def test_a_wrong_token_opens_no_session(dashboard):
    with dashboard.client() as client:
        response = client.post("/login", data={"token": "not-the-token"})
        assert response.status_code == 403
        assert "wrong access token" in response.text
        assert "set-cookie" not in response.headers
        linked = client.get("/", params={"token": "not-the-token"})
        assert linked.status_code == 403
        assert "not-the-token" not in linked.text
        assert "set-cookie" not in linked.headers


def test_a_token_link_sets_a_strict_httponly_cookie_and_drops_the_token_from_the_address(dashboard):
    with dashboard.client() as client:
        response = client.get("/routes/orders", params={"token": TOKEN, "x": "1"})
        assert response.status_code == 303
        assert response.headers["location"] == "/routes/orders?x=1"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("cutover_dashboard=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert TOKEN not in cookie
        page = client.get("/routes/orders")
        assert "signed in" in page.text
        assert TOKEN not in page.text


@pytest.mark.parametrize("percent", ["abc", "", "-5", "1.5", "٣"])
def test_a_malformed_percentage_is_a_clear_400_and_moves_nothing(dashboard, percent):
    client, csrf = dashboard.signed_in()
    before = dashboard.sources.manifest.read_text()
    with closing(client):
        response = client.post(
            "/routes/users/move", data={"action": "canary", "percent": percent, "csrf": csrf}
        )
    assert response.status_code == 400
    assert problem(response.text) == (
        f"a canary's percentage must be a whole number from 1 to 99 (got {percent!r}); nothing was moved"
    )
    assert dashboard.sources.manifest.read_text() == before


def test_a_percentage_out_of_range_is_the_move_codes_own_refusal(dashboard):
    client, csrf = dashboard.signed_in()
    before = dashboard.sources.manifest.read_text()
    with closing(client):
        response = client.post(
            "/routes/users/move",
            data={"action": "canary", "percent": "150", "csrf": csrf},
            follow_redirects=True,
        )
    assert response.status_code == 200
    [message] = flashes(response.text)
    assert (
        message.startswith("users: failed: ")
        and "canary percent must be an integer from 1 to 99 (got 150)" in message
    )
    assert dashboard.sources.manifest.read_text() == before
    # A request that is no move is not an attempt: not recorded, as from the CLI.
    assert audit_entries(dashboard.sources.audit_url, "users") == []


def test_an_unknown_action_is_a_400(dashboard):
    client, csrf = dashboard.signed_in()
    with closing(client):
        response = client.post("/routes/users/move", data={"action": "delete", "csrf": csrf})
    assert response.status_code == 400
    assert "the action must be one of canary, modern, rollback (got 'delete')" in problem(response.text)


def test_an_unknown_route_is_a_404_page_and_no_audit_entry(dashboard):
    client, csrf = dashboard.signed_in()
    with closing(client):
        page = client.get("/routes/no-such-route")
        assert page.status_code == 404
        assert "no route 'no-such-route' in" in problem(page.text)
        assert "orders" in problem(page.text)  # the known ones are named
        response = client.post("/routes/no-such-route/move", data={"action": "rollback", "csrf": csrf})
        assert response.status_code == 404
        assert client.get("/nothing/here").status_code == 404
    assert audit_entries(dashboard.sources.audit_url) == []


def test_a_missing_manifest_is_a_message_never_a_500(make_dashboard, tmp_path):
    dash = make_dashboard(manifest=tmp_path / "missing.toml")
    client, csrf = dash.signed_in()
    with closing(client):
        index = client.get("/")
        assert index.status_code == 200
        assert "missing.toml" in index.text and "flash-error" in index.text
        route = client.get("/routes/users")
        assert route.status_code == 503 and "missing.toml" in problem(route.text)
        move = client.post("/routes/users/move", data={"action": "rollback", "csrf": csrf})
        assert move.status_code == 503 and "nothing was moved" in problem(move.text)
        assert client.get("/api/routes").json()["problems"]
        assert client.get("/api/series").json()["routes"] == {}


def test_a_foreign_host_header_is_refused(dashboard):
    with dashboard.client() as client:
        response = client.get("/", headers={"host": "evil.example"})
    assert response.status_code == 400


def test_rollback_moves_and_is_recorded_as_the_cli_records_it(dashboard):
    client, csrf = dashboard.signed_in()
    with closing(client):
        response = client.post(
            "/routes/orders/move", data={"action": "rollback", "csrf": csrf, "next": "/routes/orders"}
        )
        assert response.status_code == 303 and response.headers["location"] == "/routes/orders"
        page = client.get("/routes/orders").text
    assert "orders: modern -> legacy (nginx not running: applies at its next start)" in flashes(page)
    assert dashboard.manifest_route("orders").mode == "legacy"
    [row] = history_rows(
        page
    )  # the route page's history: when, who, via, from, to, asked, outcome, gate, force
    assert row[1:] == [f"{row[1].split(' from ')[0]} from 127.0.0.1", "dashboard", "modern", "legacy", "legacy",
                       "moved", "not gated (rollback)", "no"]  # fmt: skip
    [entry] = audit_entries(dashboard.sources.audit_url, "orders")
    assert (entry.source, entry.before, entry.after, entry.requested) == (
        "dashboard",
        "modern",
        "legacy",
        "legacy",
    )
    assert (entry.outcome, entry.gate, entry.forced) == ("moved", "not gated (rollback)", False)
    assert entry.actor.endswith(" from 127.0.0.1")
    assert TOKEN not in json.dumps(entry.__dict__) and csrf not in json.dumps(entry.__dict__)


def test_moves_toward_modern_go_through_the_gate(dashboard):
    client, csrf = dashboard.signed_in()
    with closing(client):
        for action in ("canary", "modern"):
            page = client.post(
                "/routes/users/move",
                data={"action": action, "percent": "10", "csrf": csrf},
                follow_redirects=True,
            ).text
            [message] = flashes(page)
            assert message.startswith(
                f"users: refused: refusing to move 'users' to {action}: no parity report at "
            )
    assert dashboard.manifest_route("users").mode == "legacy"
    entries = audit_entries(dashboard.sources.audit_url, "users")
    assert [(e.requested, e.outcome) for e in entries] == [("modern", "refused"), ("canary 10%", "refused")]
    assert all("no parity report" in e.gate for e in entries)


def test_a_move_to_the_place_a_route_is_in_changes_nothing(dashboard):
    client, csrf = dashboard.signed_in()
    with closing(client):
        page = client.post(
            "/routes/users/move", data={"action": "rollback", "csrf": csrf}, follow_redirects=True
        ).text
    assert "users: already legacy; nothing changed" in flashes(page)


def test_the_route_page_shows_mismatches_and_shadow_differences_side_by_side_redacted(dashboard):
    report = {
        "format": 1,
        "generated_at": "2026-12-01T00:00:00Z",
        "revision": {"commit": "0" * 40, "dirty": False, "tree": ""},
        "routes": {
            "users": {
                "status": "red", "cases": 2, "matched": 1, "mismatched": 1, "errors": 0, "noise": 0,
                "mismatches": [{
                    "case": "users/list-as-staff",
                    "description": "staff list the users",
                    "request": {"method": "GET", "path": "/api/users/"},
                    "differences": [
                        {"path": "body.results[0].email", "legacy": "a@example.com", "modern": "A@example.com"},
                        {"path": "body.token", "legacy": "legacy-secret-value", "modern": "modern-secret-value"},
                    ],
                }],
            }
        },
    }  # fmt: skip
    dashboard.sources.report.write_text(json.dumps(report))
    with ShadowStore(dashboard.sources.shadow_url) as store:
        store.record(Comparison("users", "GET", "/api/users/?page=2", time.time(), "different",
                                (FieldDifference("body.count", 41, 42),), ("body.count",)))  # fmt: skip
        store.record(Comparison("users", "GET", "/api/users/", time.time(), "match"))
    with dashboard.client() as client:
        page = client.get("/routes/users").text
        index = client.get("/").text
    assert "users/list-as-staff" in page and "GET /api/users/" in page
    assert "red @ 000000000000" in page
    # One row per differing field, highlighted: its path, the legacy's value, the port's (as JSON).
    assert differing_fields(page) == [
        ["body.results[0].email", '"a@example.com"', '"A@example.com"'],
        ["body.token", '"***"', '"***"'],  # masked by its path, as reports are
        ["body.count", "41", "42"],  # the shadow store's kept request
    ]
    assert "secret-value" not in page
    assert "/api/users/?page=2" in page
    assert "compared 2, different 1, noise 0" in index


def test_a_blocking_call_under_warn_is_said_beside_the_parity_verdict(dashboard):
    """[parity] blocking = "warn": the route is not stopped, and both pages say what blocked."""
    report = {
        "format": 1,
        "generated_at": "2026-12-01T00:00:00Z",
        "revision": {"commit": "0" * 40, "dirty": False, "tree": ""},
        "blocking": {"checked": True, "policy": "warn"},
        "routes": {
            "users": {
                "status": "green", "cases": 2, "matched": 2, "mismatched": 0, "errors": 0, "noise": 0,
                "mismatches": [], "blocked": 1,
                "blocking": [{"case": "users/list", "kind": "call", "function": "time.sleep", "via": [],
                              "frame": "service/users.py:9 in list_users", "held_ms": 20.1}],
            },
            "users-me": {
                "status": "green", "cases": 1, "matched": 1, "mismatched": 0, "errors": 0, "noise": 0,
                "mismatches": [], "blocked": 0, "blocking": [],
            },
        },
    }  # fmt: skip
    dashboard.sources.report.write_text(json.dumps(report))
    with dashboard.client() as client:
        page = client.get("/routes/users").text
        rows = {r["id"]: r for r in client.get("/api/routes").json()["routes"]}
    assert rows["users"]["cells"]["parity"].endswith(", with a warning")
    assert "with a warning" not in rows["users-me"]["cells"]["parity"]
    assert "Warning: 1 case(s) made a blocking call on the event loop (first: time.sleep at service/users.py:9" in page


def test_the_json_rows_are_the_manifest(dashboard):
    from cutover.proxy.manifest import load_manifest

    with dashboard.client() as client:
        data = client.get("/api/routes").json()
    manifest = load_manifest(dashboard.sources.manifest)
    assert [(r["id"], r["mode"], r["percent"], r["pinned"]) for r in data["routes"]] == [
        (r.id, r.mode, r.modern_share, r.pinned) for r in manifest.routes
    ]
    carts = next(r for r in data["routes"] if r["id"] == "carts")
    assert carts["cells"]["mode"] == "canary 30% by client" and carts["cells"]["share"] == "30%"


def test_off_loopback_viewing_needs_a_session_too(make_dashboard):
    dash = make_dashboard(host="0.0.0.0")
    with httpx.Client(base_url=f"http://127.0.0.1:{dash.server.port}", timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F"
        assert client.get("/api/routes").status_code == 403
        assert client.post("/login", data={"token": TOKEN}).status_code == 303
        assert client.get("/").status_code == 200


def test_cli_missing_manifest_is_one_line_and_usage_exit_code(tmp_path):
    result = CliRunner().invoke(cli, ["dashboard", "--manifest", str(tmp_path / "none.toml"), "--port", "0"])
    assert result.exit_code == int(ExitCode.USAGE)
    assert "no manifest at" in result.output and "Traceback" not in result.output


def test_cli_prints_one_banner_with_the_token_and_never_logs_it_again(tmp_path):
    manifest = tmp_path / "routes.toml"
    manifest.write_text((REPO / "migration_notes" / "routes.toml").read_text())
    port = free_port()
    env = {**os.environ, "CUTOVER_PROXY_DIR": str(tmp_path / "nginx")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cutover", "dashboard", "--manifest", str(manifest), "--port", str(port),
         "--report", str(tmp_path / "report.json")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        prefix = f"dashboard         http://127.0.0.1:{port}/  (token: "
        assert banner.startswith(prefix) and banner.endswith(")\n"), banner
        token = banner[len(prefix) : -2]
        assert len(token) >= 40
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/", params={"token": token}).status_code == 303  # the link that carries it
            assert client.get("/").status_code == 200
            assert "signed in" in client.get("/").text
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert token not in rest  # no access log line, nothing else carries it


def test_a_port_in_use_is_a_clear_error(tmp_path):
    import socket

    from cutover.commands.dashboard import start
    from cutover.dashboard.data import Sources
    from cutover.errors import CutoverError
    from cutover.proxy.nginx import Nginx

    sources = Sources(tmp_path / "routes.toml", Nginx(tmp_path / "nginx"), tmp_path / "r.json", tmp_path,
                      f"sqlite:///{tmp_path / 'audit.sqlite3'}")  # fmt: skip
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CutoverError, match=f"the dashboard cannot listen on 127.0.0.1:{port}"):
            start(sources, port=port)


def test_a_move_from_the_cli_is_on_the_page_beside_the_pages_own(dashboard):
    sources = dashboard.sources
    common = [
        "--manifest",
        str(sources.manifest),
        "--proxy-dir",
        str(sources.door.prefix),
        "--audit",
        sources.audit_url,
    ]
    result = CliRunner().invoke(cli, ["rollback", "refunds", *common])
    assert result.exit_code == 0, result.output
    client, csrf = dashboard.signed_in()
    with closing(client):
        assert (
            client.post("/routes/orders/move", data={"action": "rollback", "csrf": csrf}).status_code == 303
        )
        rows = history_rows(client.get("/audit").text)
    # when, route, who, via, from, to, asked, outcome, gate, --force; newest first
    assert [(r[1], r[3], r[4], r[5], r[7]) for r in rows] == [
        ("orders", "dashboard", "modern", "legacy", "moved"),
        ("refunds", "cli", "modern", "legacy", "moved"),
    ]


def test_sources_default_to_the_projects_places():
    from cutover.config import load_config
    from cutover.dashboard.data import Sources

    project = load_config()
    sources = Sources.of(project)
    assert (sources.manifest, sources.report, sources.repo) == (
        project.proxy.manifest,
        project.parity.report,
        project.root,
    )
    assert (sources.audit_url, sources.shadow_url) == (project.audit.url, project.shadow.url)
    assert sources.door.prefix == project.root / ".data" / project.proxy.front_door
    assert sources.project is project
