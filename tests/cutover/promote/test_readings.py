"""What a window reads besides traffic: the route's parity verdict for the code checked out now, and, where
the route is shadowed, the shadow comparisons recorded since the window began."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

from cutover.config import parse_config
from cutover.promote.judge import Parity, Shadow
from cutover.promote.run import live_readings
from cutover.proxy.manifest import Route
from cutover.shadow.store import Comparison, FieldDifference, ShadowStore
from tests.cutover.proxy.test_routes_cli import head, write_report

ROUTE = Route("users", "exact", "/api/users/")


def project(tmp_path: Path):
    text = '[shadow]\nstore = "shadow.sqlite3"\n'
    return parse_config(tomllib.loads(text), root=tmp_path, source=tmp_path / "cutover.toml")


def record(tmp_path: Path, outcomes: list[str], at: float) -> None:
    with ShadowStore(f"sqlite:///{tmp_path / 'shadow.sqlite3'}") as store:
        for n, outcome in enumerate(outcomes):
            diff = (FieldDifference("body.email", "a", "b"),) if outcome == "different" else ()
            store.record(Comparison("users", "GET", f"/api/users/?n={n}", at, outcome, diff,
                                    candidate_paths=tuple(d.path for d in diff)))  # fmt: skip


def test_parity_is_read_for_the_code_checked_out_now(tmp_path: Path, repo: Path):
    report = write_report(tmp_path / "report.json", head(repo), {"users": True})
    read = live_readings(project(tmp_path), report, repo)
    assert read(ROUTE, time.time()) == (Parity(True, "every case matched on this revision"), None)
    write_report(report, head(repo), {"users": False})
    parity, _ = read(ROUTE, time.time())
    assert not parity.green and "red" in parity.reason


def test_shadow_comparisons_since_the_window_began_where_the_route_is_shadowed(tmp_path: Path, repo: Path):
    report = write_report(tmp_path / "report.json", head(repo), {"users": True})
    read = live_readings(project(tmp_path), report, repo)
    shadowed = Route("users", "exact", "/api/users/", shadow=10)
    assert read(shadowed, time.time())[1] == Shadow(0, 0)  # no store yet: nothing compared, nothing created
    assert not (tmp_path / "shadow.sqlite3").exists()
    now = time.time()
    record(tmp_path, ["different"] * 5, now - 7200)  # long before the window
    record(tmp_path, ["match"] * 8 + ["different"] * 2, now)
    assert read(shadowed, now - 1)[1] == Shadow(10, 2)
    assert read(ROUTE, now - 1)[1] is None  # not shadowed: not read
