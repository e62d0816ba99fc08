"""`cutover up` (what `make run` runs) puts a real front door (nginx, or Envoy with `--front-door envoy`) in
front of the real apps: the banner's first line is the front door, requests through it carry the routing
headers, pagination links point at it, a route moves to FastAPI and back on the running stack, and
stopping the stack leaves no front door process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from cutover.cli import app

from .conftest import REPO, access_log, free_port


def front_door_processes(up: subprocess.Popen[str], kind: str, prefix: Path) -> list[psutil.Process]:
    if kind == "nginx":
        master = int((prefix / "nginx.pid").read_text())
        return [psutil.Process(master), *psutil.Process(master).children()]
    found = [p for p in psutil.Process(up.pid).children(recursive=True) if p.name() == "envoy"]
    assert len(found) == 1, found
    return found


@pytest.mark.parametrize("kind", ["nginx", "envoy"])
def test_up_serves_the_api_through_the_front_door_and_stops_it(tmp_path: Path, kind: str):
    ports = {name: free_port() for name in ("LEGACY", "MODERN", "PROXY", "METRICS", "DASHBOARD")}
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    ports["SHADOW"] = free_port()
    env.update({f"CUTOVER_{name}_PORT": str(port) for name, port in ports.items()})
    manifest = tmp_path / "routes.toml"  # a copy: the test moves routes, and shadows one
    text = (REPO / "migration_notes" / "routes.toml").read_text()
    manifest.write_text(text.replace('id = "users-me"\n', 'id = "users-me"\nshadow = 100\n', 1))
    env["CUTOVER_MANIFEST"] = str(manifest)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cutover", "up", "--data-dir", str(tmp_path / "pg"), "--front-door", kind],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    front = f"http://127.0.0.1:{ports['PROXY']}"
    banner: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        printed: list[str] = []
        for line in proc.stdout:  # the banner is printed once every server answers
            printed.append(line)
            if banner or line.startswith("front door"):
                banner.append(line.strip())
            if "Ctrl-C" in line or time.monotonic() > deadline:
                break
        assert banner and banner[0] == f"front door        {front}/  ({kind})", banner
        shadow = f"http://127.0.0.1:{ports['SHADOW']}/"
        assert f"shadow            {shadow}  (comparing copies; cutover shadow report)" in banner
        door_dir = tmp_path / kind  # beside --data-dir
        processes = front_door_processes(proc, kind, door_dir)

        anonymous = httpx.get(f"{front}/api/users/")
        assert anonymous.status_code == 401
        assert (anonymous.headers["x-cutover-route"], anonymous.headers["x-cutover-backend"]) == (
            "users",
            "legacy",
        )
        token = httpx.post(
            f"{front}/api/auth/token/", json={"username": "demo", "password": "demo-password-123"}
        ).json()["token"]
        page = httpx.get(f"{front}/api/users/", headers={"Authorization": f"Token {token}"}).json()
        assert page["next"].startswith(f"{front}/api/users/?page=2")  # built from X-Forwarded-Host

        def listed(entry: dict) -> bool:
            return (entry["route"], entry["served_by"], entry["status"]) == ("users", "legacy", 200)

        # (Envoy flushes its access log each second, as nginx's flush=1s)
        log = door_dir / "logs" / "access.log"
        assert any(listed(e) for e in access_log(log, timeout=10, until=listed))
        # ... and the stack's own exporter counts it on /metrics (started by `cutover up`, named in the banner)
        metrics = f"http://127.0.0.1:{ports['METRICS']}/metrics"
        assert f"metrics           {metrics}  (Prometheus)" in banner
        assert [line for line in printed if line.startswith(("metrics ", "dashboard "))] == [
            line + "\n" for line in banner if line.startswith(("metrics ", "dashboard "))
        ]  # the stack's banner names them once: the services print no banner of their own
        scraped = httpx.get(metrics).text
        assert 'cutover_requests_total{backend="legacy",route="users",status="2xx"}' in scraped, scraped

        # move a route to FastAPI and back, through the CLI, on the running stack
        where = ["--manifest", str(manifest), "--proxy-dir", str(door_dir)]
        auth = {"Authorization": f"Token {token}"}
        moved = CliRunner().invoke(app, ["move", "users-me", "--to", "modern", "--force", *where])
        assert moved.exit_code == 0 and f"{kind}: switched live" in moved.stdout, moved.output
        me = httpx.get(f"{front}/api/users/me/", headers=auth)
        assert (me.status_code, me.headers["x-cutover-backend"]) == (200, "modern")
        assert me.json()["username"] == "demo"
        # users-me is shadowed: its GETs were copied and compared (the port as it ships: no difference)
        store = tmp_path / "shadow.sqlite3"  # beside --data-dir
        for _ in range(3):
            assert httpx.get(f"{front}/api/users/me/", headers=auth).status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shown = CliRunner().invoke(app, ["shadow", "report", "--store", str(store), "--json"])
            found = {r["route"]: r for r in json.loads(shown.stdout)["routes"]} if shown.exit_code < 2 else {}
            if found.get("users-me", {}).get("compared", 0) >= 2:
                break
            time.sleep(0.5)
        assert shown.exit_code == 0, shown.output
        assert found["users-me"]["compared"] >= 2 and found["users-me"]["different"] == 0, found
        back = CliRunner().invoke(app, ["rollback", "users-me", *where])
        assert back.exit_code == 0, back.output
        # the stack's dashboard lists the routes and shows both moves in its audit log
        dashboard = f"http://127.0.0.1:{ports['DASHBOARD']}/"
        (named,) = [line for line in banner if line.startswith("dashboard ")]
        assert (
            named.startswith(f"dashboard         {dashboard}  (token: ")
            and len(named.split("token: ")[1]) > 40
        )
        assert "users-me" in httpx.get(dashboard).text
        rows = re.findall(r'<tr class="outcome-(\w+)" data-audit-route="users-me">(.*?)</tr>',
                          httpx.get(f"{dashboard}audit").text, re.S)  # fmt: skip
        newest = [re.sub(r"<[^>]+>", "|", cells) for _, cells in rows[:2]]  # newest first
        assert [o for o, _ in rows[:2]] == ["moved", "moved"]
        assert "|modern||legacy||legacy|" in newest[0] and "|legacy||modern||modern|" in newest[1], newest
        me_again = httpx.get(f"{front}/api/users/me/", headers=auth)
        assert (me_again.status_code, me_again.headers["x-cutover-backend"]) == (200, "legacy")
        assert me_again.json() == me.json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_up_with_a_broken_manifest_says_so_in_one_line_and_starts_nothing(tmp_path: Path):
    manifest = tmp_path / "routes.toml"
    manifest.write_text(
        (REPO / "migration_notes" / "routes.toml").read_text().replace('"^/api/users/', '"/api/users/')
    )
    ports = [str(free_port()) for _ in range(3)]
    args = ["up", "--no-seed", "--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx")]
    args += ["--legacy-port", ports[0], "--modern-port", ports[1], "--proxy-port", ports[2]]
    result = CliRunner().invoke(app, args)  # on DATABASE_URL: the test run's throwaway cluster
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"cutover: error: {manifest}: route 'user-detail': a pattern must be anchored and start with '^/' "
        "(got '/api/users/[^/]+/$')"
    )
    assert not (tmp_path / "nginx" / "nginx.pid").exists()
    for port in ports:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/")
