"""The audit log: every move through the CLI is recorded (moved, unchanged, refused), with who, from what to
what, the gate's verdict and --force; `cutover audit` reads it back; nothing secret is written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cutover.audit import AuditLog, StoreNotFound

from .proxy.test_manifest import demo_text
from .proxy.test_routes_cli import cli, head, one_error_line, write_report
from .proxy.test_routes_cli import manifest as manifest  # fixtures
from .proxy.test_routes_cli import repo as repo


@pytest.fixture
def audit(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'audit.sqlite3'}"


def moves(audit: str, route: str | None = None):
    with AuditLog(audit, create=False) as log:
        return log.entries(route=route)


def test_entries_come_back_newest_first_and_per_route(tmp_path: Path):
    ticks = iter(range(100, 200))
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    with AuditLog(url, clock=lambda: float(next(ticks))) as log:
        for route, after in (("a", "modern"), ("b", "canary 5%"), ("a", "legacy")):
            log.record(actor="ann", source="cli", route=route, before="legacy", after=after,
                       requested=after, outcome="moved", gate="parity green", forced=False)  # fmt: skip
        assert [(e.route, e.after, e.time) for e in log.entries()] == [
            ("a", "legacy", 102.0), ("b", "canary 5%", 101.0), ("a", "modern", 100.0),
        ]  # fmt: skip
        assert [e.after for e in log.entries(route="a", limit=1)] == ["legacy"]
        with pytest.raises(ValueError, match="outcome must be one of"):
            log.record(actor="ann", source="cli", route="a", before="x", after="x", requested="x",
                       outcome="maybe", gate="", forced=False)  # fmt: skip


def test_reading_a_log_that_does_not_exist_creates_nothing(tmp_path: Path):
    with pytest.raises(StoreNotFound):
        AuditLog(f"sqlite:///{tmp_path / 'none.sqlite3'}", create=False)
    assert not (tmp_path / "none.sqlite3").exists()


def test_every_cli_move_is_recorded_with_its_gate_and_force(
    manifest: Path, tmp_path: Path, repo: Path, audit: str
):
    report = write_report(tmp_path / "report.json", head(repo), {"users": True, "user-detail": False})
    where = ["--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"), "--audit", audit]
    gated = [*where, "--report", str(report), "--repo", str(repo)]

    assert cli("move", "users", "--to", "canary", "--percent", "20", *gated).exit_code == 0
    refused = cli("move", "user-detail", "--to", "modern", *gated)
    assert refused.exit_code == 1 and "refusing to move 'user-detail'" in refused.stderr
    assert cli("move", "user-detail", "--to", "canary", "--percent", "10", "--force", *gated).exit_code == 0
    assert cli("rollback", "users", *where).exit_code == 0
    assert cli("rollback", "users", *where).exit_code == 0  # already there: recorded as unchanged

    entries = list(reversed(moves(audit)))
    summary = [(e.route, e.before, e.after, e.requested, e.outcome, e.forced) for e in entries]
    assert summary == [
        ("users", "legacy", "canary 20%", "canary 20%", "moved", False),
        ("user-detail", "legacy", "legacy", "modern", "refused", False),
        ("user-detail", "legacy", "canary 10%", "canary 10%", "moved", True),
        ("users", "canary 20%", "legacy", "legacy", "moved", False),
        ("users", "legacy", "legacy", "legacy", "unchanged", False),
    ]
    assert entries[0].gate == "parity green"
    assert "mismatched" in entries[1].gate and "refusing" in entries[1].gate
    assert "--force given" in entries[2].gate
    assert entries[3].gate == "not gated (rollback)"
    assert {e.source for e in entries} == {"cli"} and all(e.actor for e in entries)

    shown = cli("audit", "--audit", audit, "--route", "users")
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    assert len(lines) == 3 and "users canary 20% -> legacy: moved; gate: not gated (rollback)" in lines[1]
    data = json.loads(cli("audit", "--audit", audit, "--json", "--limit", "2").stdout)
    assert [d["outcome"] for d in data] == ["unchanged", "moved"]


def test_a_usage_error_is_no_move_and_not_recorded_but_a_failed_move_is(
    manifest: Path, tmp_path: Path, audit: str
):
    where = ["--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"), "--audit", audit]
    assert cli("rollback", "users", *where).exit_code == 0  # the log exists, with one entry
    for args, expected in [
        (["move", "nope", "--to", "modern", "--force"], "no route with id 'nope'"),
        (["move", "users", "--to", "canary", "--force"], "needs --percent"),
        (["move", "users", "--to", "canary", "--percent", "150", "--force"], "from 1 to 99 (got 150)"),
        (["move", "users", "--to", "modern", "--percent", "5"], "--percent applies only to --to canary"),
        (["move", "admin", "--to", "modern", "--force"], "pinned to legacy"),
        (["rollback", "nope"], "no route with id 'nope'"),
    ]:
        result = cli(*args, *where)
        assert result.exit_code == 2, result.output
        assert expected in one_error_line(result)
    assert [e.outcome for e in moves(audit)] == ["unchanged"]

    # A move that was asked for properly and failed (nginx rejects the configuration) is recorded.
    text = manifest.read_text().replace(
        'servers = ["127.0.0.1:', 'servers = ["no-such-host.invalid:1", "127.0.0.1:', 1
    )
    manifest.write_text(text)
    result = cli("move", "users", "--to", "modern", "--force", *where)
    assert result.exit_code == 2 and "nginx rejected the configuration" in one_error_line(result)
    failed = moves(audit)[0]
    assert (failed.route, failed.before, failed.after, failed.requested, failed.outcome) == (
        "users", "legacy", "legacy", "modern", "failed",
    )  # fmt: skip
    assert manifest.read_text() == text


def test_a_move_that_cannot_be_recorded_is_not_made(manifest: Path, tmp_path: Path):
    before = manifest.read_text()
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = cli("rollback", "users", "--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"),
                 "--audit", f"sqlite:///{blocked}/audit.sqlite3")  # fmt: skip
    assert result.exit_code == 2
    assert (
        result.stderr.startswith("cutover: error: cannot open the audit log")
        and "Traceback" not in result.output
    )
    assert manifest.read_text() == before
    bad = cli("audit", "--audit", "mysql://db/audit")
    assert bad.exit_code == 2 and "sqlite:///PATH or postgresql://" in bad.stderr
    # an unreachable PostgreSQL log: one line, its password hidden
    down = "postgresql://cutover:s3cret-pw@127.0.0.1:9/audit"
    for result in (
        cli("audit", "--audit", down),
        cli(
            "rollback",
            "users",
            "--manifest",
            str(manifest),
            "--proxy-dir",
            str(tmp_path / "nginx"),
            "--audit",
            down,
        ),
    ):
        assert result.exit_code == 2 and "s3cret-pw" not in result.output, result.output
        assert "cutover:***@127.0.0.1:9/audit" in one_error_line(result)
    assert manifest.read_text() == before


def test_nothing_secret_is_stored(manifest: Path, tmp_path: Path, audit: str, monkeypatch):
    """The actor is a user name: no token, cookie or password of the environment ends up in the log."""
    secret = "s3cr3t-token-value-0123456789"
    monkeypatch.setenv("CUTOVER_ADMIN_TOKEN", secret)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{secret}@127.0.0.1/db")
    assert cli("move", "users", "--to", "canary", "--percent", "5", "--force", "--manifest", str(manifest),
               "--proxy-dir", str(tmp_path / "nginx"), "--audit", audit).exit_code == 0  # fmt: skip
    dump = "\n".join(sqlite3.connect(tmp_path / "audit.sqlite3").iterdump())
    assert "users" in dump and secret not in dump


def test_the_default_log_is_the_configs(tmp_path: Path, monkeypatch):
    (tmp_path / "cutover.toml").write_text(
        '[proxy]\nmanifest = "routes.toml"\n[audit]\nstore = "state/moves.sqlite3"\n'
    )
    (tmp_path / "routes.toml").write_text(demo_text())
    monkeypatch.delenv("CUTOVER_AUDIT")
    monkeypatch.chdir(tmp_path)
    result = cli("audit")
    assert result.exit_code == 0 and result.stdout.strip() == "no moves recorded"
    assert not (tmp_path / "state").exists()  # reading never creates the log
    assert cli("move", "users", "--to", "canary", "--percent", "5", "--force", "--proxy-dir",
               str(tmp_path / "nginx")).exit_code == 0  # fmt: skip
    assert [e.after for e in moves(f"sqlite:///{tmp_path / 'state' / 'moves.sqlite3'}")] == ["canary 5%"]
    assert "users legacy -> canary 5%: moved, --force" in cli("audit").stdout
