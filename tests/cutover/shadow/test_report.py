"""``cutover shadow report`` through typer's CliRunner: what it prints, its JSON, its exit codes, and which
store and thresholds it reads (the project config, ``--store``, ``CUTOVER_SHADOW_STORE``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.dburl import DatabaseURL
from cutover.shadow.report import TOP_FIELDS, parse_duration, percent
from cutover.shadow.store import Comparison, FieldDifference, ShadowStore

ROUTE = "users-list"


def report(config: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["--config", str(config), "shadow", "report", *args], env=env)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose config says nothing of shadow: the store is .data/shadow.sqlite3 under its root."""
    config = tmp_path / "cutover.toml"
    config.write_text("")
    return config


def store_of(config: Path) -> Path:
    return config.parent / ".data" / "shadow.sqlite3"


def record_noise(store: ShadowStore, n: int, *, route: str = ROUTE, at: float | None = None) -> None:
    for _ in range(n):
        store.record(
            Comparison(
                route=route,
                method="GET",
                target="/api/users/",
                time=time.time() if at is None else at,
                outcome="noise",
                candidate_paths=("body.generated_at",),
                secondary_paths=("body.generated_at",),
            )
        )


def record_difference(
    store: ShadowStore,
    n: int,
    *,
    path: str = "body.results[3].username",
    route: str = ROUTE,
    at: float | None = None,
) -> None:
    store.record(
        Comparison(
            route=route,
            method="GET",
            target=f"/api/users/?page={n}",
            time=time.time() if at is None else at,
            outcome="different",
            differences=(FieldDifference(path, f"zoë{n}", f"zoe{n}"),),
            candidate_paths=(path, "body.generated_at"),
            secondary_paths=("body.generated_at",),
        )
    )


def test_an_empty_store_says_so_in_one_line_and_exits_0(project: Path):
    ShadowStore(f"sqlite:///{store_of(project)}").close()
    result = report(project)
    assert result.exit_code == 0, result.output
    assert result.stdout == "no shadow comparisons recorded\n"
    machine = report(project, "--json")
    assert machine.exit_code == 0
    assert json.loads(machine.stdout)["routes"] == []


def test_noise_alone_is_no_difference(project: Path):
    with ShadowStore(f"sqlite:///{store_of(project)}") as store:
        store.mirrored(ROUTE, 12)
        store.dropped(ROUTE, 1)
        record_noise(store, 10)
        store.record(Comparison(ROUTE, "GET", "/api/users/", time.time(), "match"))
        store.record(
            Comparison(
                ROUTE, "GET", "/api/users/", time.time(), "error", error="candidate: ConnectError refused"
            )
        )
    result = report(project)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ROUTE
    assert lines[1] == "  mirrored 12, compared 11, matched 1, different 0, noise 10, errors 1, dropped 1"
    assert "  noise: body.generated_at 90.91%" in lines  # 10 of the 11 compared
    assert "  error: GET /api/users/: candidate: ConnectError refused" in lines
    assert lines[-1] == "no differences beyond noise on 1 route(s)"
    assert not any("differs:" in line for line in lines)


def test_differences_exit_1_with_counts_and_three_examples_each(project: Path):
    with ShadowStore(f"sqlite:///{store_of(project)}") as store:
        record_noise(store, 5)
        for n in range(5):
            record_difference(store, n)
        record_difference(store, 9, path="status")
        record_noise(store, 2, route="users-me")
    result = report(project)
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert (
        "users-list\n  mirrored 0, compared 11, matched 0, different 6, noise 5, errors 0, dropped 0\n" in out
    )
    assert "  noise: body.generated_at 100%\n" in out
    username = out.index(
        "  differs: body.results[3].username: 5 of 11 (45.45%; the legacy against itself 0%)\n"
    )
    status = out.index("  differs: status: 1 of 11 (9.09%; the legacy against itself 0%)\n")
    assert username < status  # most often first
    examples = out[username:status].splitlines()[1:]
    assert examples == [f'    GET /api/users/?page={n}: "zoë{n}" -> "zoe{n}"' for n in (4, 3, 2)]
    assert '    GET /api/users/?page=9: "zoë9" -> "zoe9"' in out
    assert "users-me\n" in out
    assert out.splitlines()[-1] == "differences on 1 of 2 route(s): users-list"


def test_json_is_the_same_report_and_exits_the_same(project: Path):
    with ShadowStore(f"sqlite:///{store_of(project)}") as store:
        store.mirrored(ROUTE, 3)
        record_noise(store, 1)
        record_difference(store, 1)
    result = report(project, "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["has_differences"] is True and data["since"] is None
    assert data["store"] == f"sqlite:///{store_of(project)}"
    [route] = data["routes"]
    assert {k: route[k] for k in ("route", "mirrored", "compared", "different", "noise", "errors", "dropped")} == {
        "route": ROUTE, "mirrored": 3, "compared": 2, "different": 1, "noise": 1, "errors": 0, "dropped": 0,
    }  # fmt: skip
    fields = {f["path"]: f for f in route["fields"]}
    assert fields["body.generated_at"] == {
        "path": "body.generated_at", "candidate_count": 2, "secondary_count": 2, "candidate_rate": 1.0,
        "secondary_rate": 1.0, "reported": False, "noise": True,
    }  # fmt: skip
    [differing] = route["differing"]
    assert (differing["path"], differing["count"], differing["rate"]) == ("body.results[3].username", 1, 0.5)
    [example] = differing["examples"]
    assert (example["method"], example["target"], example["primary"], example["candidate"]) == (
        "GET", "/api/users/?page=1", "zoë1", "zoe1",
    )  # fmt: skip


def test_route_picks_one_route_and_an_unknown_route_is_a_usage_error(project: Path):
    with ShadowStore(f"sqlite:///{store_of(project)}") as store:
        record_difference(store, 1)
        record_noise(store, 1, route="users-me")
    only_me = report(project, "--route", "users-me")
    assert only_me.exit_code == 0, only_me.output
    assert only_me.stdout.splitlines()[0] == "users-me" and ROUTE not in only_me.stdout
    unknown = report(project, "--route", "users-typo")
    assert unknown.exit_code == 2
    assert unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == [
        f"cutover: error: no shadow record of route 'users-typo' in sqlite:///{store_of(project)} "
        f"(routes recorded: {ROUTE}, users-me)"
    ]


def test_since_counts_only_the_recent_minutes(project: Path):
    now = time.time()
    with ShadowStore(f"sqlite:///{store_of(project)}") as store:
        for n in range(3):
            record_difference(store, n, at=now - 3 * 3600)  # three hours ago: a bug since fixed
        record_noise(store, 4, at=now - 60)
        record_noise(store, 1, route="users-me", at=now - 3 * 3600)
    everything = report(project)
    assert everything.exit_code == 1
    recent = report(project, "--since", "1h")
    assert recent.exit_code == 0, recent.output
    assert "  mirrored 0, compared 4, matched 0, different 0, noise 4, errors 0, dropped 0" in recent.stdout
    assert "users-me" not in recent.stdout
    assert json.loads(report(project, "--since", "90m", "--json").stdout)["since"] == pytest.approx(
        now - 5400, abs=60
    )
    old_only = report(project, "--since", "30m", "--route", "users-me")
    assert old_only.exit_code == 0, old_only.output
    assert old_only.stdout == "no shadow comparisons recorded for users-me in the last 30m\n"
    assert report(project, "--since", "4h").exit_code == 1


@pytest.mark.parametrize("since", ["1x", "0m", "an hour", "-1h", "1.5h", ""])
def test_a_bad_since_is_one_line_and_exit_2(project: Path, since: str):
    ShadowStore(f"sqlite:///{store_of(project)}").close()
    result = report(project, "--since", since)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"cutover: error: --since must be a duration like 90s, 30m, 1h or 2d, got {since!r}"
    ]


@pytest.mark.parametrize(
    "text, seconds", [("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800), ("1w", 604800)]
)
def test_durations(text: str, seconds: int):
    assert parse_duration(text) == seconds


def test_a_missing_store_is_not_created(project: Path, tmp_path: Path):
    result = report(project)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"cutover: error: no shadow store at {store_of(project)}: nothing has been recorded there "
        "(see [shadow] store, or --store)"
    ]
    assert not store_of(project).parent.exists()
    elsewhere = report(project, "--store", str(tmp_path / "other" / "shadow.sqlite3"))
    assert elsewhere.exit_code == 2 and "no shadow store at" in elsewhere.stderr
    assert not (tmp_path / "other").exists()


def test_the_config_names_the_store_and_the_thresholds(tmp_path: Path):
    config = tmp_path / "cutover.toml"
    config.write_text('[shadow]\nstore = "var/results.sqlite3"\nabsolute_threshold = 0.6\n')
    with ShadowStore(f"sqlite:///{tmp_path / 'var' / 'results.sqlite3'}") as store:
        record_noise(store, 1)
        record_difference(store, 1)  # username differs in half the comparisons: under 0.6
    lenient = report(config, "--json")
    assert lenient.exit_code == 0, lenient.output
    [route] = json.loads(lenient.stdout)["routes"]
    assert route["thresholds"] == {"absolute": 0.6, "relative": 0.2}
    assert [f["path"] for f in route["fields"] if not f["reported"] and not f["noise"]] == [
        "body.results[3].username"
    ]
    config.write_text('[shadow]\nstore = "var/results.sqlite3"\n')
    assert report(config).exit_code == 1  # the default absolute threshold, 0.01


def test_store_option_and_environment_override_the_config(project: Path, tmp_path: Path):
    other = tmp_path / "elsewhere.sqlite3"
    with ShadowStore(f"sqlite:///{other}") as store:
        record_difference(store, 1)
    assert report(project).exit_code == 2  # the config's store does not exist
    for args, env in [
        (["--store", str(other)], None),
        (["--store", f"sqlite:///{other}"], None),
        ([], {"CUTOVER_SHADOW_STORE": str(other)}),
    ]:
        result = report(project, *args, env=env)
        assert result.exit_code == 1, (args, result.output)
        assert "differs: body.results[3].username: 1 of 1" in result.stdout


def test_a_postgresql_store_from_the_config(tmp_path: Path, pg_database: DatabaseURL):
    config = tmp_path / "cutover.toml"
    config.write_text(f'[shadow]\ndatabase = "{pg_database.libpq()}"\n')
    # Two comparators (two front doors) write to the one store; the report adds them up.
    with ShadowStore(pg_database.libpq()) as first, ShadowStore(pg_database.libpq()) as second:
        first.mirrored(ROUTE, 2)
        second.mirrored(ROUTE, 3)
        record_noise(first, 2)
        record_difference(second, 1)
    result = report(config)
    assert result.exit_code == 1, result.output
    assert "  mirrored 5, compared 3, matched 0, different 1, noise 2, errors 0, dropped 0" in result.stdout
    assert not (tmp_path / ".data").exists()  # the SQLite default is not touched


def test_an_unreachable_store_is_one_line_without_the_password(project: Path):
    result = report(project, "--store", "postgresql://shadow:hunter2@127.0.0.1:1/shadow")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "cutover: error: cannot read the shadow store at postgresql://shadow:***@127.0.0.1:1/shadow: "
    )
    assert "hunter2" not in result.output
    bad = report(project, "--store", "mysql://u@h/db")
    assert bad.exit_code == 2
    assert (
        bad.stderr.strip()
        == "cutover: error: --store: a shadow store is sqlite:///PATH or postgresql://..., not mysql"
    )


def test_only_the_top_fields_are_listed_as_text(project: Path):
    extra = 3
    with ShadowStore(f"sqlite:///{store_of(project)}") as store:
        for n in range(TOP_FIELDS + extra):
            record_difference(store, n, path=f"body.field{n:02d}")
    result = report(project)
    assert result.exit_code == 1
    assert result.stdout.count("  differs: ") == TOP_FIELDS
    assert f"  ... and {extra} more differing field path(s) (--json lists all)\n" in result.stdout
    [route] = json.loads(report(project, "--json").stdout)["routes"]
    assert len(route["differing"]) == TOP_FIELDS + extra


@pytest.mark.parametrize(
    "rate, shown", [(1.0, "100%"), (0.125, "12.5%"), (0.0004, "0.04%"), (0.00001, "<0.01%"), (0.0, "0%")]
)
def test_percent(rate: float, shown: str):
    assert percent(rate) == shown


def test_help_names_the_config_keys():
    result = CliRunner().invoke(app, ["shadow", "report", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "[shadow] database" in text and "[shadow] absolute_threshold" in text
    assert "CUTOVER_SHADOW_STORE" in text
