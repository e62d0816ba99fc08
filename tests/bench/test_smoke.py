"""A real, small run: the floor on the test cluster, loaded by wrk through the CLI. Never asserts speed."""

from __future__ import annotations

import json
import os

import psutil
import pytest
from typer.testing import CliRunner

from cutover.bench import loadgen
from cutover.cli import app
from cutover.dburl import DatabaseURL
from cutover.embedded import ensure_database

runner = CliRunner()


@pytest.fixture(scope="module")
def smoke_db_url() -> str:
    # Its own database in the test cluster: the bench migrates and seeds it; pytest-django's test_app is untouched.
    return ensure_database(DatabaseURL.parse(os.environ["DATABASE_URL"]), "bench_smoke").libpq()


def test_a_small_run_against_the_floor_writes_well_formed_results(tmp_path, smoke_db_url):
    loadgen.ensure_wrk()  # as the bench does: installs it with apt as root, else fails saying how to get it
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = runner.invoke(app, [
        "bench", "--targets", "floor", "--scenarios", "detail,search,signup", "--concurrency", "2",
        "--warmup", "0", "--duration", "4", "--workers", "1", "--users", "30", "--no-profile",
        "--db-latency", "0", "--database-url", smoke_db_url, "--out", str(tmp_path),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "latest.json").read_text())
    assert [(p["endpoint"], p["target"], p["connections"]) for p in data["points"]] == [
        ("detail", "floor", 2), ("search", "floor", 2), ("signup", "floor", 2),
    ]  # fmt: skip
    for p in data["points"]:
        assert p["skipped"] is None
        assert p["errors"] == 0, p
        assert p["requests"] > 0, p
        assert p["latency_ms"]["p50"] > 0
        assert p["server_cpu_s"] > 0
        assert len(p["loadavg_before"]) == 3
    assert data["settings"]["workers"] == 1
    assert [s["name"] for s in data["scenarios"]] == ["detail", "search", "signup"]
    # The command line's levels and window win over the scenario's own (signup: [2, 8], 15 s).
    assert data["settings"]["scenarios"]["signup"] == {"concurrency": [2], "warmup_s": 0, "duration_s": 4}
    assert data["versions"]["PostgreSQL"].split(".")[0].isdigit()
    assert {c["status"] for c in data["checks"]} == {"not measured"}  # only the floor ran
    text = (tmp_path / "latest.md").read_text()
    assert "| floor | 2 |" in text and "## Targets (detail: GET /api/users/{id}/ as token:demo" in text
    assert "### signup: POST /api/users/" in text
    # Every server it started is gone.
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def test_a_target_that_answers_wrongly_is_reported_not_measured(tmp_path, smoke_db_url, monkeypatch):
    # The preflight must catch a server that answers, but not as the load expects (here: a bad token).
    from cutover.bench import dataset

    monkeypatch.setattr(
        dataset.Dataset, "headers", lambda self, identity, method: [("Authorization", "Token " + "0" * 40)]
    )
    result = runner.invoke(app, [
        "bench", "--targets", "floor", "--scenarios", "detail", "--concurrency", "2", "--warmup", "0",
        "--duration", "1", "--workers", "1", "--users", "30", "--no-profile", "--db-latency", "0",
        "--database-url", smoke_db_url, "--out", str(tmp_path),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    (point,) = json.loads((tmp_path / "latest.json").read_text())["points"]
    assert point["requests"] == 0
    assert point["skipped"].startswith("preflight answered 401")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--targets", "legacy,nope"], "unknown target nope"),
        (["--scenarios", "delete"], "unknown scenario delete"),
        (["--concurrency", "8,lots"], "--concurrency wants"),
        (["--concurrency", "0"], "--concurrency wants"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(args, message):
    result = runner.invoke(app, ["bench", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_wrk_is_explained_with_exit_2(monkeypatch):
    monkeypatch.setattr(loadgen.shutil, "which", lambda name: None)
    monkeypatch.setattr(loadgen.os, "geteuid", lambda: 1000)  # not root: no automatic install
    result = runner.invoke(app, ["bench", "--quick"])
    assert result.exit_code == 2
    assert "wrk is not installed" in result.output


def test_a_project_without_scenarios_is_one_line_and_a_nonzero_exit(tmp_path):
    config = tmp_path / "cutover.toml"
    config.write_text('[modern]\nasgi = "svc:app"\n')
    result = runner.invoke(app, ["--config", str(config), "bench", "--quick"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"cutover: error: nothing to benchmark: {config} has no [[bench.scenarios]] (docs/config.md, [bench])"
    ]


def test_the_floor_is_only_benchmarked_when_the_project_has_one(tmp_path):
    config = tmp_path / "cutover.toml"
    config.write_text('[[bench.scenarios]]\nname = "home"\npath = "/"\n')
    result = runner.invoke(app, ["--config", str(config), "bench", "--targets", "modern,floor"])
    assert result.exit_code == 2
    assert f"no floor to benchmark: set [bench] floor (module:app) in {config}" in result.output
    assert "Traceback" not in result.output


def test_a_small_run_with_the_database_made_far_measures_each_latency_through_the_relay(
    tmp_path, smoke_db_url
):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = runner.invoke(app, [
        "bench", "--targets", "floor", "--scenarios", "detail,signup", "--concurrency", "2", "--warmup", "0",
        "--duration", "2", "--workers", "1", "--users", "30", "--no-profile", "--db-latency", "0,20ms",
        "--database-url", smoke_db_url, "--out", str(tmp_path),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "latest.json").read_text())
    # A sign-up's users are new at every latency too (its preflight's included).
    for p in data["points"]:
        assert p["skipped"] is None and p["errors"] == 0 and p["requests"] > 0, p
    detail = [p for p in data["points"] if p["endpoint"] == "detail"]
    direct, far = sorted(detail, key=lambda p: p["db_latency_ms"])
    assert (direct["db_latency_ms"], far["db_latency_ms"]) == (0.0, 20.0)
    for p in (direct, far):
        assert p["skipped"] is None and p["errors"] == 0 and p["requests"] > 0, p
    # Every query's round trip pays the relay's 20 ms; the direct path pays nothing.
    assert far["latency_ms"]["p50"] >= 20.0 > direct["latency_ms"]["p50"]
    assert far["relay_cpu_s"] > 0 and direct["relay_cpu_s"] is None
    assert data["settings"]["db_latency"] == [0.0, 20.0]
    assert data["settings"]["database latency"]["20 ms"].startswith("user-space delaying TCP relay")
    assert any("netem" in note for note in data["notes"])
    assert (
        "### detail: GET /api/users/{id}/ as token:demo, database 20 ms away"
        in (tmp_path / "latest.md").read_text()
    )
    # Every server and the relay are gone.
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before
