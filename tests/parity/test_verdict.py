"""The one answer to "is route R green for the code checked out now" (cutover.parity.verdict), as the gate,
`cutover routes` and the report writer use it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cutover.parity.report import merge_previous, write_report
from cutover.parity.verdict import Revision, current_revision, verdict
from cutover.proxy.gate import parity_result, parity_warnings, why_not_green


def report(tmp_path: Path, revision: Revision, **route) -> Path:
    entry = {"status": "green", "cases": 3, "matched": 3, "mismatched": 0, "errors": 0, "noise": 0} | route
    path = tmp_path / "report.json"
    write_report({"format": 1, "generated_at": "2026-11-28T02:00:00Z", "revision": revision.as_dict(),
                  "routes": {"orders": entry}}, path)  # fmt: skip
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "app.py").write_text("v = 1\n")
    git(root, "add", "app.py")
    git(root, "commit", "-q", "-m", "v1")
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=a@b.c", "-c", "user.name=t", *args], cwd=root, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip


def test_green_only_for_a_clean_report_of_the_clean_commit_checked_out(tmp_path, repo):
    head = git(repo, "rev-parse", "HEAD")
    path = report(tmp_path, Revision(head, False))
    found = verdict(path, "orders", repo=repo)
    assert (found.status, found.green, found.passed) == ("green", True, True)
    assert (
        found.reason == "every case matched on this revision" and found.generated_at == "2026-11-28T02:00:00Z"
    )
    assert found.counts == {"cases": 3, "matched": 3, "mismatched": 0, "errors": 0, "noise": 0}
    assert why_not_green("orders", path, repo) is None
    assert parity_result(path, "orders", repo).short() == f"green @ {head[:12]}"


def test_a_dirty_work_tree_is_never_vouched_for(tmp_path, repo):
    head = git(repo, "rev-parse", "HEAD")
    path = report(tmp_path, Revision(head, False))
    (repo / "app.py").write_text("v = 2\n")
    found = verdict(path, "orders", repo=repo)
    assert found.passed and not found.green and "the work tree has uncommitted changes" in found.reason
    (repo / "app.py").write_text("v = 1\n")
    (repo / "new.py").write_text("x = 1\n")  # an untracked file counts too
    assert "uncommitted changes" in verdict(path, "orders", repo=repo).reason


def test_a_report_of_a_dirty_tree_is_not_green_even_for_the_same_changes(tmp_path, repo):
    (repo / "app.py").write_text("v = 2\n")
    now = current_revision(repo)
    assert now is not None and now.dirty
    found = verdict(report(tmp_path, now), "orders", repo=repo)
    assert not found.green and found.reason == (
        "the parity report was made from a work tree with uncommitted changes"
    )


def test_another_revision_red_and_missing(tmp_path, repo):
    head = git(repo, "rev-parse", "HEAD")
    other = verdict(report(tmp_path, Revision("0" * 40, False)), "orders", repo=repo)
    assert other.passed and not other.green
    assert other.reason == f"the parity report is for revision {'0' * 12}, the code is at {head[:12]}"
    red = verdict(
        report(tmp_path, Revision(head, False), status="red", matched=2, mismatched=1), "orders", repo=repo
    )
    assert red.status == "red" and not red.green
    assert "shows 'orders' red (1 mismatched and 0 failed of 3 case(s))" in red.reason
    empty = verdict(report(tmp_path, Revision(head, False), cases=0, matched=0), "orders", repo=repo)
    assert empty.status == "missing" and "no cases for orders" in empty.reason
    assert verdict(report(tmp_path, Revision(head, False)), "admin", repo=repo).status == "missing"
    assert "no parity report at" in verdict(tmp_path / "absent.json", "orders", repo=repo).reason
    (tmp_path / "junk.json").write_text("{not json")
    assert "cannot read the parity report" in verdict(tmp_path / "junk.json", "orders", repo=repo).reason
    (tmp_path / "old.json").write_text('{"format": 0}')
    assert "unknown format" in verdict(tmp_path / "old.json", "orders", repo=repo).reason
    assert parity_result(tmp_path / "absent.json", "orders").status == "missing"


def test_outside_a_git_work_tree_the_revision_is_unknown(tmp_path):
    path = report(tmp_path, Revision("a" * 40, False))
    outside = tmp_path / "plain"
    outside.mkdir()
    assert current_revision(outside) is None
    found = verdict(path, "orders", repo=outside)
    assert not found.green and "is not a git work tree" in found.reason


def test_a_report_made_outside_git_says_so_once_the_project_is_in_git(tmp_path, repo):
    """Not "uncommitted changes": the report names no revision at all (it was made before `git init`)."""
    path = report(tmp_path, Revision.from_dict(None))
    found = verdict(path, "orders", repo=repo)
    assert not found.green and "does not say which revision it was made from" in found.reason


def test_current_revision_tracks_commit_and_uncommitted_changes(repo):
    clean = current_revision(repo)
    assert clean is not None and not clean.dirty and len(clean.commit) == 40 and clean.tree == ""
    (repo / "new.py").write_text("x = 1\n")
    first = current_revision(repo)
    (repo / "new.py").write_text("x = 2\n")
    second = current_revision(repo)
    assert first and second and first.dirty and second.dirty and first.commit == clean.commit
    assert first.tree != second.tree


def test_a_route_run_keeps_other_routes_only_from_a_report_of_the_same_revision(tmp_path):
    here = Revision("a" * 40, False)
    path = report(tmp_path, here)
    fresh = {"revision": here.as_dict(), "routes": {"users": {"status": "green", "cases": 1}}}
    merge_previous(fresh, path, ran={"users"})
    assert set(fresh["routes"]) == {"orders", "users"}
    other = {
        "revision": Revision("b" * 40, False).as_dict(),
        "routes": {"users": {"status": "green", "cases": 1}},
    }
    merge_previous(other, path, ran={"users"})
    assert set(other["routes"]) == {"users"}


BLOCKING = [{"case": "orders/list", "kind": "call", "function": "time.sleep", "via": [],
             "frame": "service/orders.py:12 in list_orders", "held_ms": 50.2}]  # fmt: skip


@pytest.mark.parametrize("policy", ["fail", "warn"])
def test_a_blocking_call_is_red_under_fail_and_a_warning_under_warn(tmp_path, repo, policy):
    head = git(repo, "rev-parse", "HEAD")
    path = report(tmp_path, Revision(head, False), blocked=1, blocking=BLOCKING,
                  status="red" if policy == "fail" else "green")  # fmt: skip
    data = json.loads(path.read_text())
    data["blocking"] = {"checked": True, "policy": policy}
    path.write_text(json.dumps(data))
    found = verdict(path, "orders", repo=repo)
    expected = "1 case(s) made a blocking call on the event loop (first: time.sleep at service/orders.py:12"
    if policy == "fail":
        assert (found.status, found.green) == ("red", False) and expected in found.reason
        assert found.warnings == ()
        assert why_not_green("orders", path, repo) == found.reason
    else:
        assert (found.status, found.green) == ("green", True)
        assert found.reason == "every case matched on this revision"
        assert len(found.warnings) == 1 and expected in found.warnings[0]
        assert parity_warnings("orders", path, repo) == found.warnings
    assert found.counts["blocked"] == 1


def test_a_blocking_call_beside_a_mismatch_names_both(tmp_path, repo):
    head = git(repo, "rev-parse", "HEAD")
    path = report(tmp_path, Revision(head, False), status="red", matched=2, mismatched=1, blocked=1,
                  blocking=BLOCKING)  # fmt: skip
    found = verdict(path, "orders", repo=repo)
    assert "1 mismatched and 0 failed of 3 case(s); 1 case(s) made a blocking call" in found.reason


DEMO_MANIFEST = Path(__file__).resolve().parents[2] / "migration_notes" / "routes.toml"


@pytest.fixture
def repo_with_manifest(repo: Path) -> Path:
    (repo / "routes.toml").write_text(DEMO_MANIFEST.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "settings.toml").write_text('debug = false\n', encoding="utf-8")
    git(repo, "add", "routes.toml", "settings.toml")
    git(repo, "commit", "-q", "-m", "manifest")
    return repo


def moved(repo: Path, route: str = "user-detail", mode: str = "canary", percent: int | None = 10) -> None:
    from cutover.proxy.manifest import set_route_mode

    path = repo / "routes.toml"
    path.write_text(set_route_mode(path.read_text(), route, mode, percent, source="routes.toml"))


def test_what_the_toolkit_writes_leaves_the_tree_clean(tmp_path, repo_with_manifest):
    """A move's mode lines, the parity report and audit log under .cutover/, cutover up's .data/: none of
    them is code, so a promotion's own steps keep the route green."""
    repo = repo_with_manifest
    path = report(tmp_path, Revision(git(repo, "rev-parse", "HEAD"), False))
    moved(repo)
    moved(repo, "users-me", "modern", None)
    (repo / ".cutover").mkdir()
    (repo / ".cutover" / "parity-report.json").write_text("{}")
    (repo / ".cutover" / "audit.sqlite3").write_bytes(b"\0" * 16)
    (repo / ".data" / "postgres").mkdir(parents=True)
    (repo / ".data" / "postgres" / "PG_VERSION").write_text("16\n")
    now = current_revision(repo)
    assert now is not None and not now.dirty
    assert verdict(path, "orders", repo=repo).green


@pytest.mark.parametrize(
    "change",
    ["a route's path", "a backend's server", "another TOML file", "a tracked file under .data/", "app code"],
)
def test_anything_else_is_code_even_beside_a_move(tmp_path, repo_with_manifest, change):
    repo = repo_with_manifest
    path = report(tmp_path, Revision(git(repo, "rev-parse", "HEAD"), False))
    moved(repo)
    manifest = repo / "routes.toml"
    if change == "a route's path":
        text = manifest.read_text()
        assert '"/api/users/me/"' in text
        manifest.write_text(text.replace('"/api/users/me/"', '"/api/users/self/"'))
    elif change == "a backend's server":
        text = manifest.read_text()
        assert "127.0.0.1:8002" in text
        manifest.write_text(text.replace("127.0.0.1:8002", "127.0.0.1:9002"))
    elif change == "another TOML file":
        (repo / "settings.toml").write_text("debug = true\n")
    elif change == "a tracked file under .data/":
        (repo / ".data").mkdir()
        (repo / ".data" / "fixture.json").write_text("[]")
        git(repo, "add", ".data/fixture.json")
        git(repo, "commit", "-q", "-m", "fixture")
        path = report(tmp_path, Revision(git(repo, "rev-parse", "HEAD"), False))
        (repo / ".data" / "fixture.json").write_text("[1]")
    else:
        (repo / "app.py").write_text("v = 2\n")
    found = verdict(path, "orders", repo=repo)
    assert not found.green and "uncommitted changes" in found.reason


def test_a_commit_of_a_move_keeps_the_report_current_and_a_commit_of_code_does_not(tmp_path, repo_with_manifest):
    repo = repo_with_manifest
    path = report(tmp_path, Revision(git(repo, "rev-parse", "HEAD"), False))
    moved(repo)
    git(repo, "commit", "-q", "-am", "user-detail: canary 10%")
    moved(repo, mode="modern", percent=None)
    git(repo, "commit", "-q", "-am", "user-detail: modern")
    found = verdict(path, "orders", repo=repo)
    assert found.green and found.reason == "every case matched on this revision"
    (repo / "app.py").write_text("v = 2\n")
    git(repo, "commit", "-q", "-am", "code")
    stale = verdict(path, "orders", repo=repo)
    assert not stale.green and "the parity report is for revision" in stale.reason
