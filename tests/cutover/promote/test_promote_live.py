"""`cutover promote` through the CLI against a real nginx, a legacy echo server and a modern test double
(``faulty_app.py``), with clients sending requests through the front door meanwhile: a healthy port promoted
step by step; one that starts answering 500 or slows down rolled back within one interval, the reason in
the audit log; too little traffic inconclusive without a move; a dry run that moves nothing; Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cutover.audit import AuditLog
from cutover.cli import app
from cutover.proxy.apply import move_route
from cutover.proxy.manifest import load_manifest
from cutover.proxy.moves import describe
from tests.cutover.proxy.test_routes_cli import head, write_report

from .conftest import REPO, Load

runner = CliRunner()
ROUTE = "users"


def config(tmp_path: Path, **promote: float) -> Path:
    # A p99 on a few hundred requests of a shared test machine jumps by tens of milliseconds (a new upstream
    # connection, another test's burst): a slack of 200 ms keeps it quiet (the slow double's test sets the
    # default back). A busy machine may also send fewer requests: a window may wait for more.
    settings = {"min_requests": 10, "max_waits": 2, "p99_slack": 0.2, **promote}
    lines = "\n".join(f"{key} = {value}" for key, value in settings.items())
    path = tmp_path / "cutover.toml"
    path.write_text(
        '[legacy]\nsettings = "legacy_django.settings"\n[modern]\nasgi = "fastapi_app.main:app"\n'
        f"[promote]\n{lines}\n"
    )
    return path


def where(front, tmp_path: Path, repo: Path) -> list[str]:
    report = write_report(tmp_path / "report.json", head(repo), {ROUTE: True})
    return ["--manifest", str(front.manifest), "--proxy-dir", str(front.prefix), "--report", str(report),
            "--repo", str(repo), "--audit", f"sqlite:///{tmp_path / 'audit.sqlite3'}"]  # fmt: skip


def promote(front, tmp_path: Path, repo: Path, *args: str, **promote: float):
    cfg = config(tmp_path, **promote)
    return runner.invoke(app, ["--config", str(cfg), "promote", ROUTE, *args, *where(front, tmp_path, repo)])


def entries(tmp_path: Path):
    with AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite3'}") as audit:
        return list(reversed(audit.entries(route=ROUTE)))


def place(front) -> str:
    return describe(load_manifest(front.manifest).route(ROUTE))


def when_at(front, wanted: str, action) -> threading.Thread:
    """Run ``action`` as soon as the route is at ``wanted`` (the fault that starts after a step)."""

    def watch() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if place(front) == wanted:
                action()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_healthy_port_is_promoted_step_by_step(front, load, tmp_path: Path, repo: Path):
    result = promote(front, tmp_path, repo, "--steps", "25,50,100", "--interval", "1.5s")
    assert result.exit_code == 0, result.output
    assert "users promoted to modern" in result.stdout
    assert place(front) == "modern"
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith(("step", "canary"))] == [
        "step 1/3", "canary 25% window 1", "step 2/3", "canary 50% window 1", "step 3/3"
    ]  # fmt: skip
    assert "healthy" in next(line for line in lines if line.startswith("canary 50% window 1"))
    moved = entries(tmp_path)
    assert [(e.source, e.outcome, e.before, e.after) for e in moved] == [
        ("promote", "moved", "legacy", "canary 25%"),
        ("promote", "moved", "canary 25%", "canary 50%"),
        ("promote", "moved", "canary 50%", "modern"),
    ]
    assert moved[0].reason == "promote step 1 of 3: legacy -> canary 25%"
    assert moved[2].reason.startswith(
        "promote step 3 of 3: canary 50% -> modern after a healthy window (legacy "
    )
    assert all("parity green" in e.gate for e in moved)


def test_a_manifest_tracked_in_git_stays_green_through_the_promotion_s_own_steps(front, load, tmp_path: Path):
    """The layout `cutover init` writes: the manifest committed in the project's repository. Each step
    edits its mode lines; those are moves, not code, so parity stays green for the next step."""
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    (tmp_path / ".gitignore").write_text(f"/*\n!/.gitignore\n!/{front.manifest.name}\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", ".gitignore", front.manifest.name], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "routes"], check=True)
    result = promote(front, tmp_path, tmp_path, "--steps", "50,100", "--interval", "1.5s")
    assert result.exit_code == 0, result.output
    assert place(front) == "modern" and "users promoted to modern" in result.stdout
    assert subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.strip() == (
        f"M {front.manifest.name}"
    )


INTERVAL = 2.0


@pytest.mark.parametrize(
    ("fault", "reason", "settings"),
    [
        ("fail", "5xx: modern ", {}),
        # 500 ms more against the default slack (50 ms): a breach unless legacy's own p99 passed 300 ms; half
        # the clients wait on modern now, hence fewer requests needed
        ("slow", "p99: modern ", {"p99_slack": 0.05, "min_requests": 5}),
    ],
)
def test_a_port_that_fails_or_slows_down_is_rolled_back_within_one_interval(
    backends, front, load, tmp_path: Path, repo: Path, fault: str, reason: str, settings: dict,
):  # fmt: skip
    watcher = when_at(front, "canary 50%", lambda: backends.fault(fault))
    # A slow modern holds each client half a second: four of them gave ~10 modern answers a window, and a
    # busy CI machine once fewer than the 5 needed (the window waited, the rollback came a window late).
    # More clients, each mostly waiting on modern, keep the window well above the minimum.
    with Load(front.url, threads=20, pause=0.05) if fault == "slow" else nullcontext():
        result = promote(front, tmp_path, repo, "--steps", "50,100", "--interval", f"{INTERVAL}s", **settings)
    watcher.join(1)
    assert result.exit_code == 1, result.output
    assert place(front) == "legacy"
    assert f"cutover: rolled users back from canary 50% to legacy: {reason}" in result.stderr, result.output
    step, rollback = entries(tmp_path)
    assert (step.after, rollback.before, rollback.after, rollback.outcome) == (
        "canary 50%",
        "canary 50%",
        "legacy",
        "moved",
    )
    assert rollback.source == "promote" and rollback.gate == "not gated (rollback)"
    assert rollback.reason.startswith(f"promote: breach at canary 50%: {reason}")
    assert rollback.time - step.time < INTERVAL + 1.5  # within one interval (and the log's 1 s flush)
    assert "window 2" not in result.stdout, result.stdout  # judged on the first window, no wait
    if fault == "fail":  # most of the window's modern answers (some came before the flag)
        assert float(re.search(r"5xx: modern ([\d.]+)%", rollback.reason)[1]) > 50
    else:
        assert float(re.search(r"p99: modern (\d+) ms", rollback.reason)[1]) >= 500


def test_too_little_traffic_ends_inconclusive_without_moving(front, tmp_path: Path, repo: Path):
    move_route(front.manifest, front.door, ROUTE, "canary", 50)
    result = promote(front, tmp_path, repo, "--steps", "50,100", "--interval", "1s", max_waits=1)
    assert result.exit_code == 3, result.output
    assert "window 2" in result.stdout and "waited 1 of 1 more intervals" in result.stdout
    assert (
        "cutover: inconclusive: too little traffic in 2 s (legacy answered 0 of the 10 requests needed; modern answered 0"
        in result.stderr
    )
    assert place(front) == "canary 50%"
    (entry,) = entries(tmp_path)
    assert (entry.outcome, entry.before, entry.after, entry.requested, entry.gate) == (
        "unchanged", "canary 50%", "canary 50%", "modern", "inconclusive"
    )  # fmt: skip
    assert entry.reason.startswith("promote: inconclusive at canary 50%: too little traffic")


def test_a_second_promotion_of_the_route_is_refused_while_one_runs(front, tmp_path: Path, repo: Path):
    """Two would step and judge one canary against each other: the second is one line, exit 2, no move."""
    from cutover.promote.lock import promotion_lock

    move_route(front.manifest, front.door, ROUTE, "canary", 25)
    before = front.manifest.read_text()
    with promotion_lock(front.prefix, ROUTE):
        result = promote(front, tmp_path, repo, "--steps", "50,100", "--interval", "1s")
        other = promote(front, tmp_path, repo, "--steps", "50,100", "--interval", "1s", "--dry-run")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"cutover: error: a promotion of 'users' is already running (pid {os.getpid()}); one at a time"
    )
    assert front.manifest.read_text() == before and entries(tmp_path) == []
    assert "already running" not in other.output  # a dry run moves nothing: it takes no lock
    with promotion_lock(front.prefix, ROUTE):  # released: free again
        pass


def test_a_dry_run_judges_and_moves_nothing(front, load, tmp_path: Path, repo: Path):
    move_route(front.manifest, front.door, ROUTE, "canary", 50)
    before = front.manifest.read_text()
    result = promote(front, tmp_path, repo, "--steps", "50,100", "--interval", "1.5s", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: healthy; would move users from canary 50% to modern" in result.stdout
    assert front.manifest.read_text() == before
    assert entries(tmp_path) == []


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_ctrl_c_leaves_the_route_where_the_last_completed_step_put_it(
    front, load, tmp_path: Path, repo: Path, stop: int
):
    """Started as a non-interactive shell starts a background job (SIGINT ignored, which Python would then
    never turn into KeyboardInterrupt; an xdist worker's children inherit the same), Ctrl-C still stops it;
    SIGTERM (a cancelled CI job) does the same."""
    move_route(front.manifest, front.door, ROUTE, "canary", 25)
    cfg = config(tmp_path)
    command = [sys.executable, "-m", "cutover", "--config", str(cfg), "promote", ROUTE, "--steps", "25,50,100",
               "--interval", "2s", *where(front, tmp_path, repo)]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # judged at 25%, then the step to 50%
            seen.append(line)
            if line.startswith("step 2/3"):
                break
        assert seen and seen[-1].startswith("step 2/3"), seen
        time.sleep(0.3)  # measuring the 50% window now
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "cutover: interrupted: users left at canary 50% (the last completed step)" in err
    assert "Traceback" not in err
    assert place(front) == "canary 50%"
    assert [e.after for e in entries(tmp_path)] == ["canary 50%"]


@pytest.mark.parametrize("door_kind", ["envoy"])
def test_behind_envoy_too_a_failing_port_is_rolled_back(backends, front, load, tmp_path: Path, repo: Path):
    """Envoy logs request times in milliseconds and moves through its route table: the same promotion."""
    move_route(front.manifest, front.door, ROUTE, "canary", 50)
    backends.fault("fail")
    result = promote(front, tmp_path, repo, "--steps", "50,100", "--interval", f"{INTERVAL}s")
    assert result.exit_code == 1, result.output
    assert "cutover: rolled users back from canary 50% to legacy: 5xx: modern " in result.stderr
    assert float(re.search(r"5xx: modern ([\d.]+)%", result.stderr)[1]) > 50
    assert re.search(r"legacy \d+ req, 5xx 0.0%, p99 \d{1,3} ms", result.stdout)  # seconds, from milliseconds
    assert place(front) == "legacy"
    (rollback,) = entries(tmp_path)
    assert (rollback.before, rollback.after, rollback.source) == ("canary 50%", "legacy", "promote")
