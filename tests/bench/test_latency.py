"""The database-latency dimension: ``--db-latency`` and ``[bench] db_latency``, the report's tables, ratios and
the IO-bound target, and old results files without it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cutover.bench.harness import Plan
from cutover.bench.latency import format_latency, parse_latencies
from cutover.bench.report import read_run, render_json, render_markdown, rerender, write_results
from cutover.bench.results import IO_CHECK, Point, checks, ratios
from cutover.cli import app
from cutover.config import BenchScenario, ConfigError, load_config

from .test_report import load, make_run

runner = CliRunner()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0,1ms,5ms", (0.0, 1.0, 5.0)),
        ("5", (5.0,)),
        (" 0 , 0.5ms ", (0.0, 0.5)),
        ("250us,1s", (0.25, 1000.0)),
        (["0", "5ms"], (0.0, 5.0)),
    ],
)
def test_latencies_are_round_trips_in_milliseconds(raw, expected):
    assert parse_latencies(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "5parsecs",
            "--db-latency wants comma-separated round-trip times like 0,1ms,5ms; '5parsecs' is not one",
        ),
        ("-1ms", "'-1ms' is not one"),
        ("2s", "--db-latency: 2s is more than 1000 ms per round trip"),
        ("5ms,5", "--db-latency: 5 ms is given twice"),
        (",", "--db-latency wants at least one round-trip time"),
    ],
)
def test_a_bad_latency_is_one_clear_line(raw, message):
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_latencies(raw)


@pytest.mark.parametrize("raw", ["5parsecs", "1ms,fast", "2000ms"])
def test_the_cli_refuses_a_bad_latency_with_one_line_and_exit_2_before_starting_anything(raw, tmp_path):
    result = runner.invoke(app, ["bench", "--db-latency", raw, "--out", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("cutover: error: --db-latency"), result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_the_project_config_sets_the_default_latencies_threads_and_server_environment(tmp_path):
    config = tmp_path / "cutover.toml"
    config.write_text(
        '[bench]\ndb_latency = ["0", "5ms"]\nthreads = 8\n[bench.env]\nPOOL_SIZE = "16"\nOTHER = 3\n'
        '[[bench.scenarios]]\nname = "home"\npath = "/"\n'
    )
    bench = load_config(config).bench
    assert bench.db_latency == ("0", "5ms")
    assert bench.threads == 8
    assert bench.env == {"POOL_SIZE": "16", "OTHER": "3"}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("db_latency = 5", "[bench] db_latency must be a list of round-trip times"),
        ("threads = 0", "[bench] threads must be a number of threads in 1..1024"),
        ('env = { "not a name" = "1" }', "[bench] env must be a table of environment variables"),
    ],
)
def test_bad_bench_config_is_one_line_naming_the_key(tmp_path, toml, message):
    config = tmp_path / "cutover.toml"
    config.write_text(f"[bench]\n{toml}\n")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(config)


def test_a_bad_latency_in_the_config_names_the_key_and_the_file(tmp_path):
    config = tmp_path / "cutover.toml"
    config.write_text(
        '[bench]\ndb_latency = ["5 furlongs"]\n[[bench.scenarios]]\nname = "home"\npath = "/"\n'
    )
    result = runner.invoke(app, ["--config", str(config), "bench"])
    assert result.exit_code == 2
    assert f"[bench] db_latency in {config}" in result.output and "'5 furlongs' is not one" in result.output


def test_the_checked_point_is_repeated_at_64_direct_and_at_256_far():
    plan = Plan(scenarios=(BenchScenario("detail", "GET", "/"),), headline="detail", headline_repeats=5)
    assert plan.repeats("detail", 64, 0.0) == 5 and plan.repeats("detail", 256, 0.0) == 1
    assert plan.repeats("detail", 256, 5.0) == 5 and plan.repeats("detail", 64, 5.0) == 1
    assert plan.repeats("search", 256, 5.0) == 1
    assert plan.settings()["db_latency"] == [0.0]


def far_point(target: str, rps: float, latency: float, connections: int = 256, cpu_ms: float = 1.0) -> Point:
    requests = int(rps * 10)
    return Point(
        "detail", target, connections, load(rps), server_cpu_s=requests * cpu_ms / 1000, db_cpu_s=1.0,
        db_latency_ms=latency, relay_cpu_s=requests * 0.1 / 1000 if latency else None,
    )  # fmt: skip


def io_run(modern: float, legacy: float):
    points = [
        far_point("legacy", 400, 0.0, 64, cpu_ms=4.5), far_point("modern", 3200, 0.0, 64, cpu_ms=0.5),
        far_point("legacy", 100, 5.0, 8, cpu_ms=4.5), far_point("modern", 600, 5.0, 8, cpu_ms=0.5),
        far_point("legacy", legacy, 5.0, cpu_ms=4.5), far_point("modern", modern, 5.0, cpu_ms=0.5),
    ]  # fmt: skip
    run = make_run(points)
    run.settings.update({"threads": 8, "database latency": {"0 ms": "direct", "5 ms": "relay"}})
    return run


def test_ratios_pair_points_at_the_same_latency_only():
    found = {(r.name, r.connections, r.db_latency_ms): r.value for r in ratios(io_run(3000, 400))}
    assert found[("modern/legacy", 64, 0.0)] == pytest.approx(8.0)
    assert found[("modern/legacy", 256, 5.0)] == pytest.approx(7.5)
    assert found[("modern/legacy", 8, 5.0)] == pytest.approx(6.0)
    assert ("modern/legacy", 256, 0.0) not in found


@pytest.mark.parametrize(("modern", "status"), [(4000, "met"), (3000, "MISSED")])
def test_the_io_bound_target_is_ten_times_at_256_connections_5_ms_away(modern, status):
    by = {c.name: c for c in checks(io_run(modern, 400))}
    assert IO_CHECK == "modern/legacy req/s, database 5 ms away, 256 connections"
    assert by[IO_CHECK].status == status and by[IO_CHECK].wanted == ">= 10.0x"
    assert by["modern/legacy req/s"].status == "met"  # the direct check stays on the direct points


def test_without_far_points_there_is_no_io_check():
    run = make_run([far_point("legacy", 400, 0.0, 64), far_point("modern", 3200, 0.0, 64)])
    assert IO_CHECK not in {c.name for c in checks(run)}


def test_the_report_has_tables_and_ratios_per_latency_and_explains_a_miss_from_in_flight_capacity():
    text = render_markdown(io_run(3000, 400))
    assert "### detail: GET /api/things/{id}/ as token:alice, database direct" in text
    assert "### detail: GET /api/things/{id}/ as token:alice, database 5 ms away" in text
    assert "| relay CPU s/1k req |" in text and "| legacy | 256 | 400 |" in text
    assert "| ratio | scenario | database | 8 conns | 64 conns | 256 conns |" in text
    assert "| modern/legacy | detail | 5 ms | 6.00 | – | 7.50 |" in text
    assert f"| {IO_CHECK} | >= 10.0x | 7.50x | MISSED |" in text
    why = text.split("### Why the missed targets are missed")[1]
    assert "2 x 8 = 16 requests in flight" in why
    assert "ratio tends to that of their CPU per request, 9.0x" in why
    data = render_json(io_run(3000, 400))
    assert {p["db_latency_ms"] for p in data["points"]} == {0.0, 5.0}
    assert {r["db_latency_ms"] for r in data["ratios"]} == {0.0, 5.0}
    far = next(p for p in data["points"] if p["db_latency_ms"] == 5.0 and p["connections"] == 256)
    assert far["relay_cpu_s_per_1k"] == pytest.approx(0.1)


def test_a_request_s_time_is_not_read_where_it_waited_for_a_thread():
    """At 256 connections against 16 threads, p50 is mostly the wait for a thread: dividing the threads by
    it would bound the legacy far below what it measured. Without a point within its capacity, no bound."""
    run = io_run(3000, 400)
    run.points = [p for p in run.points if p.connections != 8]
    why = render_markdown(run).split("### Why the missed targets are missed")[1]
    assert "by capacity" not in why
    assert "2 x 8 = 16 requests in flight (a gthread thread per request); no point at 16 connections" in why
    assert "ratio tends to that of their CPU per request, 9.0x" in why


def test_a_latency_that_could_not_be_set_up_is_reported_not_measured():
    run = make_run([
        far_point("legacy", 400, 0.0, 64),
        Point("detail", "legacy", 256, None, skipped="the delay relay did not start", db_latency_ms=5.0),
    ])  # fmt: skip
    text = render_markdown(run)
    assert "| legacy | 256 | not measured: the delay relay did not start |" in text
    assert {c.name: c.status for c in checks(run)}[IO_CHECK] == "not measured"


def test_a_run_recorded_before_the_latency_dimension_reads_back_direct_and_renders_as_before(tmp_path):
    run = make_run([far_point("legacy", 400, 0.0, 64), far_point("modern", 3200, 0.0, 64)])
    json_path, md_path = write_results(run, tmp_path)
    before = md_path.read_text()
    data = json.loads(json_path.read_text())
    for p in data["points"]:
        for key in ("db_latency_ms", "relay_cpu_s", "relay_cpu_s_per_1k"):
            del p[key]
    json_path.write_text(json.dumps(data))
    assert {p.db_latency_ms for p in read_run(json_path).points} == {0.0}
    assert rerender(json_path).read_text() == before
    assert "database" not in before.split("## Results")[1].split("## Ratios")[0]


def test_latencies_read_as_the_report_writes_them():
    assert [format_latency(x) for x in parse_latencies("0,0.5ms,5")] == ["0 ms", "0.5 ms", "5 ms"]


def test_the_environment_of_the_bench_wins_over_the_config_s_server_environment(tmp_path, monkeypatch):
    from cutover.commands.bench import _server_env

    config = tmp_path / "cutover.toml"
    config.write_text('[bench.env]\nPOOL_SIZE = "24"\nOTHER = "1"\n')
    monkeypatch.setenv("POOL_SIZE", "48")
    assert _server_env(load_config(config)) == {"POOL_SIZE": "48", "OTHER": "1"}


def test_a_server_with_enough_connections_is_left_alone(tmp_path):
    import os

    from cutover.bench.dataset import ensure_max_connections
    from cutover.dburl import DatabaseURL

    # The test run's cluster allows more than one connection: nothing to change, nothing restarted.
    ensure_max_connections(DatabaseURL.parse(os.environ["DATABASE_URL"]), tmp_path, wanted=1)
    assert not (tmp_path / "restart.log").exists()
