"""Ratios, the issue's targets, and the JSON/Markdown rendering of a run."""

from __future__ import annotations

import json

import pytest

from cutover.bench.loadgen import LoadResult
from cutover.bench.report import read_run, render_json, render_markdown, write_results
from cutover.bench.results import BenchRun, Point, checks, ratios


def load(rps: float, *, status_errors: int = 0, timeouts: int = 0) -> LoadResult:
    requests = int(rps * 10) + status_errors
    return LoadResult(
        requests, 10.0, requests * 500, 0, 0, 0, status_errors, timeouts, 5.0, 8.0, 20.0, 40.0, 6.0
    )


def point(target: str, rps: float, endpoint: str = "detail", connections: int = 64, **kw) -> Point:
    return Point(endpoint, target, connections, load(rps), server_cpu_s=rps / 100, db_cpu_s=1.0, **kw)


SCENARIOS = [
    {"name": "detail", "method": "GET", "path": "/api/things/{id}/", "identity": "token:alice", "status": 200,
     "headline": True},
    {"name": "search", "method": "GET", "path": "/api/things/?q={q}", "identity": None, "status": 200,
     "headline": False},
    {"name": "create", "method": "POST", "path": "/api/things/", "identity": None, "status": 201,
     "headline": False},
]  # fmt: skip


def make_run(points: list[Point], scenarios: list[dict] | None = None) -> BenchRun:
    return BenchRun(
        started="2026-11-28T03:00:00Z",
        finished="2026-11-28T03:10:00Z",
        machine={"cpu": "Test CPU", "cores": 2, "memory_gib": 4.0, "os": "Linux", "python": "3.11",
                 "loadavg_start": [0.5, 0.4, 0.3], "loadavg_end": [1.0, 0.9, 0.8]},
        versions={"Django": "5.2", "uvicorn": "0.34"},
        settings={"command": "cutover bench --quick", "workers": 2, "duration_s": 8, "warmup_s": 3},
        points=points,
        scenarios=SCENARIOS if scenarios is None else scenarios,
    )  # fmt: skip


def by_name(run: BenchRun) -> dict[str, object]:
    return {c.name: c for c in checks(run)}


def headline(modern: float, legacy: float = 1000, floor: float = 5000, modern_nginx: float | None = None,
             legacy_nginx: float | None = None) -> BenchRun:  # fmt: skip
    points = [point("legacy", legacy), point("modern", modern), point("floor", floor)]
    if modern_nginx is not None:
        points.append(point("modern+nginx", modern_nginx))
    if legacy_nginx is not None:
        points.append(point("legacy+nginx", legacy_nginx))
    return make_run(points)


def test_cpu_ratios_compare_cpu_per_request():
    legacy = Point("detail", "legacy", 64, load(100), server_cpu_s=5.0)  # 1000 requests: 5 ms each
    modern = Point("detail", "modern", 64, load(400), server_cpu_s=4.0)  # 4000 requests: 1 ms each
    (ratio,) = [r for r in ratios(make_run([legacy, modern]), cpu=True) if r.name == "modern/legacy"]
    assert ratio.value == pytest.approx(5.0)
    assert "## Ratios of CPU efficiency" in render_markdown(make_run([legacy, modern]))


def test_ratios_pair_the_same_endpoint_and_concurrency():
    run = make_run([
        point("legacy", 100, connections=8), point("modern", 400, connections=8),
        point("legacy", 200, connections=64), point("modern", 500, connections=64),
    ])  # fmt: skip
    found = {(r.name, r.connections): r.value for r in ratios(run)}
    assert found[("modern/legacy", 8)] == pytest.approx(4.0)
    assert found[("modern/legacy", 64)] == pytest.approx(2.5)
    assert ("modern/floor", 64) not in found  # no floor in the run: no such column


@pytest.mark.parametrize(("modern", "status"), [(3000, "met"), (2990, "MISSED"), (2000, "MISSED")])
def test_modern_must_be_three_times_legacy(modern, status):
    check = by_name(headline(modern=modern, floor=modern))["modern/legacy req/s"]
    assert check.status == status


@pytest.mark.parametrize(("modern", "floor", "status"), [(4000, 5000, "met"), (3990, 5000, "MISSED")])
def test_modern_must_reach_four_fifths_of_the_floor(modern, floor, status):
    assert by_name(headline(modern=modern, floor=floor))["modern/floor req/s"].status == status


def test_nginx_cost_is_the_worse_of_the_two_upstreams():
    run = headline(modern=3000, modern_nginx=2850, legacy_nginx=850)  # 5% and 15%
    check = by_name(run)["nginx cost (worst of legacy, modern)"]
    assert check.value == pytest.approx(0.15)
    assert check.status == "MISSED"
    fine = by_name(headline(modern=3000, modern_nginx=2850, legacy_nginx=950))
    assert fine["nginx cost (worst of legacy, modern)"].status == "met"


def test_a_narrow_miss_does_not_read_as_the_target_itself():
    # 10.4% is a miss; rounded to a whole percent it would read "10% > 10%".
    check = by_name(headline(modern=3000, modern_nginx=2688, legacy_nginx=1000))[
        "nginx cost (worst of legacy, modern)"
    ]
    assert (check.status, check.shown) == ("MISSED", "10.4%")
    assert by_name(headline(modern=3000, floor=5000))["modern/floor req/s"].shown == "0.60x"


def test_unmeasured_targets_are_reported_as_such():
    run = make_run(
        [point("legacy", 1000), Point("detail", "modern", 64, None, skipped="no modern_service yet")]
    )
    assert {c.status for c in checks(run)} == {"not measured"}


def test_checks_use_the_headline_scenario_only():
    # modern is 10x legacy on search but only 2x on detail at 64: the check must say MISSED.
    run = make_run([
        point("legacy", 100, endpoint="search"), point("modern", 1000, endpoint="search"),
        point("legacy", 100, connections=8), point("modern", 1000, connections=8),
        point("legacy", 1000), point("modern", 2000),
    ])  # fmt: skip
    assert by_name(run)["modern/legacy req/s"].status == "MISSED"


def test_status_errors_do_not_count_as_throughput():
    fast_401s = Point("detail", "modern", 64, load(500, status_errors=100_000))
    run = make_run([point("legacy", 1000), fast_401s])
    check = by_name(run)["modern/legacy req/s"]
    assert check.value == pytest.approx(0.5)


def test_markdown_states_machine_versions_settings_targets_and_ratios():
    run = headline(modern=3500, modern_nginx=3400, legacy_nginx=990)
    run.points.append(Point("create", "modern", 8, None, skipped="preflight answered 500"))
    run.profiles["modern"] = {"description": "py-spy.", "samples": 1000, "rps_under_profile": 3000.0,
                              "by_package": [("sqlalchemy", 0.4)], "top_self": [("execute (sqlalchemy)", 0.1)]}  # fmt: skip
    text = render_markdown(run)
    for expected in [
        "Test CPU (2 logical cores)",
        "| Django | 5.2 |",
        "- workers: 2",
        "`cutover bench --quick`",
        "| modern/legacy req/s | >= 3.0x | 3.50x | met |",
        "| modern/floor req/s | >= 0.8x | 0.70x | MISSED |",
        "| nginx cost (worst of legacy, modern) | <= 10% | 2.9% | met |",
        "| modern | 64 | 3,500 |",
        "| modern | 8 | not measured: preflight answered 500 |",
        "| modern/legacy | detail | 3.50 |",
        "| sqlalchemy | 40% |",
        "## Targets (detail: GET /api/things/{id}/ as token:alice at 64 connections)",
        "### detail: GET /api/things/{id}/ as token:alice",
        "### create: POST /api/things/",
    ]:
        assert expected in text, expected


def test_json_carries_points_ratios_and_checks(tmp_path):
    run = headline(modern=3500)
    json_path, md_path = write_results(run, tmp_path)
    data = json.loads(json_path.read_text())
    assert data == render_json(run)
    assert json.loads((tmp_path / "latest.json").read_text()) == data
    assert md_path.read_text() == (tmp_path / "latest.md").read_text() == render_markdown(run)
    modern = next(p for p in data["points"] if p["target"] == "modern")
    assert modern["rps"] == 3500.0
    assert modern["server_cpu_s_per_1k"] == pytest.approx(35 / 35000 * 1000, abs=1e-3)
    assert {c["status"] for c in data["checks"]} == {"met", "MISSED", "not measured"}
    assert json_path.name == "bench-20261128T030000Z.json"


def test_the_headline_keeps_the_median_window_and_shows_the_spread():
    from cutover.bench.harness import median_point

    chosen = median_point([point("modern", 900), point("modern", 1200), point("modern", 1000)])
    assert chosen.rps == pytest.approx(1000)
    assert sorted(chosen.rps_samples) == [900, 1000, 1200]
    assert "| modern | 64 | 1,000 (median of 3: 900–1,200) |" in render_markdown(make_run([chosen]))


def test_a_window_that_failed_does_not_become_the_median():
    from cutover.bench.harness import median_point

    failed = Point("detail", "modern", 64, None, skipped="wrk failed")
    assert median_point([failed, point("modern", 800)]).rps == pytest.approx(800)
    assert median_point([failed]).skipped == "wrk failed"


def test_a_missed_target_is_explained_from_cpu_and_profiles():
    from cutover.bench.analysis import explain

    legacy = Point("detail", "legacy", 64, load(100), server_cpu_s=5.0)  # 5 ms per request
    modern = Point("detail", "modern", 64, load(200), server_cpu_s=5.0)  # 2.5 ms
    floor = Point("detail", "floor", 64, load(1000), server_cpu_s=5.0)  # 0.5 ms
    run = make_run([legacy, modern, floor])
    run.profiles = {
        "modern": {"by_package": [("sqlalchemy", 0.3), ("asyncpg", 0.2)],
                   "top_inclusive": [("authenticated (fastapi_app)", 0.4)]},
        "floor": {"by_package": [("asyncpg", 0.5)], "top_inclusive": []},
    }  # fmt: skip
    modern_legacy, modern_floor = explain(run)
    assert "5.00 ms" in modern_legacy and "2.50 ms" in modern_legacy and "2.0x less" in modern_legacy
    assert "`authenticated (fastapi_app)` 40%" in modern_legacy
    assert "0.50 ms" in modern_floor and "(5.0x)" in modern_floor
    # modern: 2.5 ms x 30% = 0.75 ms in sqlalchemy, the floor none; asyncpg 0.50 ms against 0.25 ms.
    gap = modern_floor.split("more than the floor in: ")[1].split(";")[0]
    assert gap == "sqlalchemy +0.75 ms (0.75 against 0.00), asyncpg +0.25 ms (0.50 against 0.25)"
    assert "### Why the missed targets are missed" in render_markdown(run)


def test_nothing_to_explain_when_targets_are_met():
    from cutover.bench.analysis import explain

    assert explain(headline(modern=4500, floor=5000)) == []


def test_a_results_file_reads_back_as_the_run_it_records(tmp_path):
    run = headline(modern=3500, modern_nginx=3400, legacy_nginx=990)
    run.profiles["modern"] = {
        "samples": 10,
        "by_package": [("fastapi", 0.5)],
        "top_self": [],
        "top_inclusive": [],
    }
    json_path, md_path = write_results(run, tmp_path)
    again = read_run(json_path)
    assert render_json(again) == json.loads(json.dumps(render_json(run)))  # JSON has lists, not tuples
    assert render_markdown(again) == md_path.read_text()


def test_rerender_derives_the_report_again_and_keeps_the_measurements(tmp_path):
    from cutover.bench.report import rerender

    json_path, md_path = write_results(headline(modern=3000, floor=5000), tmp_path)
    data = json.loads(json_path.read_text())
    data["checks"], data["why"] = [], ["stale"]  # as written by an older analysis
    json_path.write_text(json.dumps(data))
    md_path.write_text("stale")
    assert rerender(json_path) == md_path
    fresh = json.loads(json_path.read_text())
    assert fresh["points"] == data["points"]
    assert [c["status"] for c in fresh["checks"]] == ["met", "MISSED", "not measured"]
    assert fresh["why"] and fresh["why"] != ["stale"]
    assert "| modern/floor req/s | >= 0.8x | 0.60x | MISSED |" in md_path.read_text()


def test_the_headline_is_the_scenario_marked_so_else_the_first():
    points = [point("legacy", 1000, endpoint="search"), point("modern", 4000, endpoint="search"),
              point("legacy", 1000), point("modern", 1000)]  # fmt: skip
    marked = [{**s, "headline": s["name"] == "search"} for s in SCENARIOS]
    assert make_run(points, marked).headline == "search"
    assert by_name(make_run(points, marked))["modern/legacy req/s"].status == "met"
    unmarked = [{**s, "headline": False} for s in SCENARIOS]
    assert make_run(points, unmarked).headline == "detail"
    assert by_name(make_run(points, unmarked))["modern/legacy req/s"].status == "MISSED"
    # A results file of a run that recorded no scenarios: the first measured one.
    assert make_run(points, []).headline == "search"


def test_results_follow_the_scenarios_order_and_titles():
    run = make_run([point("modern", 10, endpoint="create"), point("modern", 10)])
    text = render_markdown(run)
    assert text.index("### detail: GET") < text.index("### create: POST /api/things/")
    assert render_json(run)["scenarios"] == SCENARIOS


def test_without_a_floor_the_report_has_no_floor_column_or_check():
    run = make_run([point("legacy", 1000), point("modern", 3000)])
    assert [c.name for c in checks(run)] == ["modern/legacy req/s", "nginx cost (worst of legacy, modern)"]
    assert not [r.name for r in ratios(run) if "floor" in r.name]
    assert "floor" not in render_markdown(run)


def test_a_repeated_points_ratio_is_the_median_of_its_rounds_own_ratios():
    # Each round measures every target in turn: a round's two windows share the machine's load. The ratio
    # of the two medians would pair modern's 9,690 (round 1) with the floor's 10,227 (round 1): 0.95x,
    # where the rounds say 0.78-0.95x (a run of 2026-12-07).
    modern = point("modern", 9_690.6, rps_samples=[9_690.6, 8_073.6, 7_774.4, 9_736.1, 10_252.8])
    floor = point("floor", 10_227.0, rps_samples=[10_227.0, 8_916.8, 10_033.2, 12_358.7, 12_675.8])
    run = make_run([point("legacy", 1000), modern, floor])
    found = {r.name: r.value for r in ratios(run) if r.connections == 64}
    assert found["modern/floor"] == pytest.approx(10_252.8 / 12_675.8)  # the median round: 0.81x
    assert found["modern/legacy"] == pytest.approx(9.6906)  # not repeated alike: the plain ratio
    assert by_name(run)["modern/floor req/s"].met is True
    assert "median of the rounds' own ratios" in render_markdown(run)


def test_the_nginx_cost_is_read_from_the_rounds_too():
    modern = point("modern", 8_494.8, rps_samples=[8_385.9, 10_019.3, 9_537.9, 7_854.6, 8_494.8])
    via = point("modern+nginx", 6_659.3, rps_samples=[6_439.9, 8_282.3, 6_033.8, 6_659.3, 7_158.5])
    run = make_run([point("legacy", 1000), modern, via, point("floor", 10_000)])
    cost = by_name(run)["nginx cost (worst of legacy, modern)"]
    assert cost.value == pytest.approx(1 - 8_282.3 / 10_019.3)  # 17.3%, where the medians say 21.6%
    assert "modern+nginx: 17.3% fewer req/s" in render_markdown(run)
