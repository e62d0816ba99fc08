"""The move gate reads shadow results when the config asks for them (``[gate] shadow_min_compared``): too
few comparisons, a reported difference or too many `different` ones refuse a move toward modern; the
move's output says what the gate read; without the key the gate is parity's alone."""

from __future__ import annotations

import time
from pathlib import Path

from typer.testing import CliRunner

from cutover.cli import app
from cutover.config import parse_config
from cutover.shadow.gate import shadow_verdict
from cutover.shadow.store import Comparison, FieldDifference, ShadowStore
from tests.cutover.proxy.test_manifest import demo_text
from tests.cutover.proxy.test_routes_cli import head, repo, write_report  # noqa: F401  (repo: a fixture)

GATE = "[gate]\nshadow_min_compared = {n}\nshadow_max_different_rate = 0.05\n"


def project(tmp_path: Path, gate: str = ""):
    text = (
        '[legacy]\nsettings = "legacy_django.settings"\n[modern]\nasgi = "fastapi_app.main:app"\n'
        f'[shadow]\nstore = "shadow.sqlite3"\n{gate}'
    )
    (tmp_path / "cutover.toml").write_text(text)
    import tomllib

    return parse_config(tomllib.loads(text), root=tmp_path, source=tmp_path / "cutover.toml")


def record(tmp_path: Path, route: str, outcomes: list[str]) -> None:
    store = ShadowStore(f"sqlite:///{tmp_path / 'shadow.sqlite3'}")
    for n, outcome in enumerate(outcomes):
        diff = (
            (FieldDifference("body.email", "a@example.com", "b@example.com"),)
            if outcome == "different"
            else ()
        )
        store.record(
            Comparison(
                route,
                "GET",
                f"/api/users/{n}/",
                time.time(),
                outcome,
                diff,
                candidate_paths=tuple(d.path for d in diff),
            )  # fmt: skip
        )
    store.close()


def test_without_the_key_the_gate_does_not_read_shadow_results(tmp_path: Path):
    found = shadow_verdict(project(tmp_path), "users")
    assert (found.used, found.problem) == (False, None)


def test_too_few_comparisons_refuse_then_enough_matching_ones_allow(tmp_path: Path):
    config = project(tmp_path, GATE.format(n=20))
    assert shadow_verdict(config, "users").problem.startswith("no shadow comparisons recorded")
    record(tmp_path, "users", ["match"] * 12)
    assert shadow_verdict(config, "users").problem == "only 12 shadow comparisons of the 20 needed"
    record(tmp_path, "users", ["match"] * 8)
    found = shadow_verdict(config, "users")
    assert found.problem is None and found.summary.startswith("shadow: 20 compared, 0 different")


def test_a_reported_difference_refuses(tmp_path: Path):
    config = project(tmp_path, GATE.format(n=10))
    record(tmp_path, "users", ["match"] * 18 + ["different"] * 2)
    assert shadow_verdict(config, "users").problem == "shadow differences on body.email"


def test_the_cli_refuses_a_move_on_shadow_differences_and_says_what_it_read_when_it_allows(
    tmp_path: Path,
    repo: Path,  # noqa: F811
):
    project(tmp_path, GATE.format(n=10))
    manifest = tmp_path / "routes.toml"
    manifest.write_text(demo_text())
    report = write_report(tmp_path / "report.json", head(repo), {"users": True, "users-me": True})
    record(tmp_path, "users", ["match"] * 10 + ["different"] * 3)
    record(tmp_path, "users-me", ["match"] * 10)
    common = ["--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"), "--report", str(report),
              "--repo", str(repo)]  # fmt: skip
    runner = CliRunner()
    refused = runner.invoke(
        app, ["--config", str(tmp_path / "cutover.toml"), "move", "users", "--to", "modern", *common]
    )
    assert refused.exit_code == 1, refused.output
    assert "refusing to move 'users' to modern: shadow differences on body.email" in refused.stderr
    assert 'mode = "legacy"' in manifest.read_text().split('id = "users"')[1].split("[[routes]]")[0]
    allowed = runner.invoke(
        app, ["--config", str(tmp_path / "cutover.toml"), "move", "users-me", "--to", "modern", *common]
    )
    assert allowed.exit_code == 0, allowed.output
    assert "gate: parity green; shadow: 10 compared, 0 different" in allowed.stderr
    rollback = runner.invoke(
        app, ["--config", str(tmp_path / "cutover.toml"), "rollback", "users", *common[:4]]
    )
    assert rollback.exit_code == 0, rollback.output
