"""``cutover parity --jobs N``: the cases spread over processes, each on a throwaway database of its own,
merged into the one table, report and JUnit file a single session makes (cutover/parity/shards.py)."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.errors import CutoverError
from cutover.parity.cases import Case, load_cases

from .test_blocking import cases  # noqa: F401, F811  (a fixture: case files of each route)
from .test_cli import ALTERED, in_process, invoke, no_secrets

pytestmark = pytest.mark.django_db


def cases_of(junit: Path) -> list[tuple[str | None, bool]]:
    return [
        (tc.get("name"), tc.find("failure") is not None) for tc in ET.parse(junit).getroot().iter("testcase")
    ]


@pytest.fixture
def scratch(monkeypatch) -> Iterator[Path]:
    """The jobs' temporary directory (new processes read TMPDIR): where their databases are made, so a
    test sees whether they were removed. Short: PostgreSQL's socket lives there (108 bytes at most)."""
    path = Path(tempfile.mkdtemp(prefix="jobs-"))
    monkeypatch.setenv("TMPDIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_two_jobs_find_what_one_finds_in_the_same_order(tmp_path, scratch):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    single = in_process(
        one, "--modern-app", ALTERED, "--route", "users-me", "--junit", str(one / "junit.xml")
    )
    spread = invoke(
        "--jobs", "2", "--modern-app", ALTERED, "--route", "users-me", "--generated", "0",
        "--report", str(two / "report.json"), "--junit", str(two / "junit.xml"),
    )  # fmt: skip
    assert (single.exit_code, spread.exit_code) == (1, 1), spread.output
    assert "users-me/token-alice: GET /api/users/me/ as token:alice" in spread.stdout
    assert '  body.username\n    legacy: "alice"\n    modern: <absent>' in spread.stdout
    assert re.search(r"case\(s\) did not match .*\d+\.\d cases/s", spread.stdout), spread.stdout
    # Every case of the route ran once, in the planned order, with the same outcome as in one process.
    assert cases_of(two / "junit.xml") == cases_of(one / "junit.xml")
    assert len(cases_of(two / "junit.xml")) > 10
    first, second = (json.loads((d / "report.json").read_text())["routes"]["users-me"] for d in (one, two))
    for key in ("status", "cases", "matched", "mismatched", "errors"):
        assert first[key] == second[key], key
    assert [(m["case"], m["differences"]) for m in first["mismatches"]] == [
        (m["case"], m["differences"]) for m in second["mismatches"]
    ]
    no_secrets(spread.output)
    no_secrets((two / "report.json").read_text() + (two / "junit.xml").read_text())
    assert list(scratch.glob("cutover-parity-pg-*")) == []  # each job removed its database


def test_two_jobs_run_the_generated_cases_one_job_drew(tmp_path, scratch):
    """Only the first job draws the generated cases; the other runs those it is handed, found alike."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    route = ("--route", "user-detail", "--no-report", "--modern-app", "tests.parity.apps:modern_app")
    single = in_process(one, "--generated", "24", *route, "--junit", str(one / "junit.xml"))
    spread = invoke("--jobs", "2", "--generated", "24", *route, "--junit", str(two / "junit.xml"))
    assert (single.exit_code, spread.exit_code) == (0, 0), single.output + spread.output
    ran = cases_of(two / "junit.xml")
    assert ran == cases_of(one / "junit.xml")
    assert sum("gen-" in (name or "") for name, _ in ran) >= 4, ran
    assert list(scratch.glob("cutover-parity-pg-*")) == []


class _Worker:
    exitcode = None


def _collected(messages: list[tuple], jobs: int = 2, progress=None) -> tuple[Any, list]:
    """The parent's side alone: ``messages`` as the jobs would send them; what it handed out."""
    import queue

    from cutover.config import load_config
    from cutover.parity import shards
    from cutover.parity.session import SessionOptions

    inbox, tasks = queue.Queue(), queue.Queue()
    for message in messages:
        inbox.put(message)
    found = shards._collect(
        load_config(), SessionOptions(write_report=False), [_Worker() for _ in range(jobs)], inbox, tasks,
        progress,
    )  # fmt: skip
    handed = []
    while not tasks.empty():
        handed.append(tasks.get())
    return found, handed


def _done(index: int) -> tuple:
    return ("done", index, frozenset(), ("legacy", "modern"), ["r"], [f"note {index}"], {}, False)


def test_the_written_cases_go_out_as_soon_as_one_job_planned_them_the_drawn_ones_after():
    from cutover.parity.runner import CaseResult

    drawn = [Case("gen-1", "r"), Case("gen-2", "r")]
    results = {p: CaseResult(Case(f"c{p}", "r"), "match") for p in range(5)}
    seen = []
    found, handed = _collected(
        [
            ("planned", 1, 3, []),  # the other job is ready first: the written cases go out
            ("result", 1, 2, results[2]),  # ended before the total was known
            ("planned", 0, 3, drawn),
            *[("result", 0, p, results[p]) for p in (0, 1, 3, 4)],
            _done(1), _done(0),
        ],
        progress=lambda total: seen.append(total) or (lambda result: seen.append(result.case.id)),
    )  # fmt: skip
    assert handed == [(0, None), (1, None), (2, None), (3, drawn[0]), (4, drawn[1]), None, None]
    assert [r.case.id for r in found.results] == ["c0", "c1", "c2", "c3", "c4"]  # in planned order
    assert seen[0] == 5 and sorted(seen[1:]) == ["c0", "c1", "c2", "c3", "c4"]  # every result, once
    assert found.notes == ["note 0"]  # the drawing job's notes (the schema's operations left out, say)


def test_jobs_that_planned_different_written_cases_end_the_run_with_one_line():
    with pytest.raises(CutoverError, match="planned 4 written cases, another 3"):
        _collected([("planned", 0, 3, []), ("planned", 1, 4, [])])


def test_a_job_that_does_not_draw_plans_the_written_cases_alone():
    """The drawing job checks --route against every case; the others do not draw, nor refuse a route
    only generated cases take."""
    from cutover.config import load_config
    from cutover.parity.session import SessionOptions, _plan

    project = load_config()
    written = [Case("a", "user-detail", path="/api/users/1/")]
    options = SessionOptions(routes=("users-me",), generated=8)
    plan = _plan(project, options, written, [], draws=False)
    assert plan.cases == []  # the route asked for has no written case here, and nothing was drawn
    with pytest.raises(CutoverError, match="no cases for route"):
        _plan(project, SessionOptions(routes=("nope",), generated=0), written, [])


def test_a_drawn_case_with_fixture_ids_travels_to_another_job():
    """A generated case whose path takes a fixture row's key carries its hook in the pickle."""
    from cutover.parity.generated import _FixtureIds

    class Rows:
        def integer_keys(self):
            return (7, 9)

    case = Case("gen-1", "user-detail", path="/api/users/5/", hook=_FixtureIds("/api/users/{id}/", {"id": 5}))
    again = pickle.loads(pickle.dumps(case))
    assert again.prepared(Rows()).path == case.prepared(Rows()).path == "/api/users/9/"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--database-url", "postgresql://u@127.0.0.1:9/x"], "it cannot share --database-url"),
        (
            ["--legacy", "http://127.0.0.1:9", "--modern", "http://127.0.0.1:9"],
            "--jobs is for in-process mode",
        ),
    ],
)
def test_jobs_refuse_a_shared_database_with_one_line(args, message):
    result = invoke("--jobs", "2", "--no-report", *args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert message in line


def test_a_job_that_cannot_set_up_ends_the_run_with_its_one_line(scratch):
    """The app is imported after the job's database started: the job stops and removes it, and the other
    job, interrupted, does the same."""
    result = invoke("--jobs", "2", "--no-report", "--generated", "0", "--modern-app", "no.such.module:app")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert re.search(r"parity job [12] of 2: the modern app: cannot import 'no.such.module'", line), line
    assert list(scratch.glob("cutover-parity-pg-*")) == []


def test_a_case_without_a_body_keeps_none_apart_from_no_body_through_pickling():
    """The jobs send their cases back pickled: 'no JSON body' must not turn into a body."""
    for case in (Case("a", "r"), Case("b", "r", method="POST", json=None)):
        again = pickle.loads(pickle.dumps(case))
        assert again == case and again.has_json == case.has_json


def test_two_jobs_report_what_blocked_each_job_s_port(tmp_path, scratch, cases):  # noqa: F811
    """Each job watches its own port's event loop; the merged report has every job's findings."""
    from .test_blocking import BROKEN, _blocking

    common = ["--modern-app", BROKEN, "--generated", "0", "--no-noise", "--cases", str(cases)]
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    single = in_process(tmp_path, *common, "--report", str(one))
    spread = invoke("--jobs", "2", *common, "--report", str(two))
    assert (single.exit_code, spread.exit_code) == (1, 1), spread.output
    assert "5 case(s) made a blocking call on the modern app's event loop: not green" in spread.stdout
    first, second = json.loads(one.read_text()), json.loads(two.read_text())
    assert second["blocking"] == {"checked": True, "policy": "fail"}
    for route in ("users", "user-detail", "auth-token", "users-me"):
        assert second["routes"][route]["blocked"] == first["routes"][route]["blocked"] >= 1, route
        found = {case: {e["function"] for e in calls} for case, calls in _blocking(second, route).items()}
        expected = {case: {e["function"] for e in calls} for case, calls in _blocking(first, route).items()}
        assert found.keys() == expected.keys(), route
        assert all(found[c] & expected[c] for c in found), route  # the same culprits (a socket call may vary)


def test_jobs_start_without_running_the_parent_s_main_script_again(tmp_path):
    """spawn imports the parent's main script in each job first; the console script's is the whole CLI
    (0.65 s a job), which a job never uses. A script that counts its own imports shows it left alone."""
    import subprocess
    import sys
    import textwrap

    marks = tmp_path / "imports"
    script = tmp_path / "main_script.py"
    script.write_text(
        textwrap.dedent(f"""
        import multiprocessing, os, sys
        with open({str(marks)!r}, "a") as out:
            out.write(f"{{os.getpid()}}\\n")
        from cutover.parity.shards import _main_left_alone

        if __name__ == "__main__":
            context = multiprocessing.get_context("spawn")
            left_alone = sys.argv[1] == "left-alone"
            spec = sys.modules["__main__"].__spec__
            if left_alone:
                with _main_left_alone():
                    job = context.Process(target=os.getpid)
                    job.start()
            else:
                job = context.Process(target=os.getpid)
                job.start()
            job.join()
            assert job.exitcode == 0
            assert sys.modules["__main__"].__spec__ is spec
    """)
    )
    for mode, imports in (("plain", 2), ("left-alone", 1)):
        marks.unlink(missing_ok=True)
        subprocess.run([sys.executable, str(script), mode], check=True, timeout=60)
        assert len(marks.read_text().split()) == imports, mode


def test_auto_takes_a_job_per_fifty_cases_planned_up_to_the_cores(monkeypatch, tmp_path):
    """--jobs auto (the default) counts the cases as planned, without Django."""
    from cutover.config import load_config
    from cutover.parity import shards
    from cutover.parity.session import SessionOptions

    project = load_config()
    monkeypatch.setattr(shards, "_cores", lambda: 8)
    monkeypatch.setattr(shards, "_memory", lambda: 1 << 40)  # this machine's own free memory aside
    written = len(load_cases(project.parity.cases))
    assert written >= 200  # the demo's
    assert shards.auto_jobs(project, SessionOptions(generated=0)) == min(8, written // 50)
    assert shards.auto_jobs(project, SessionOptions(generated=400)) == 8  # the cores bound it
    monkeypatch.setattr(shards, "_cores", lambda: 64)
    assert shards.auto_jobs(project, SessionOptions(generated=4000)) == shards.MAX_AUTO_JOBS == 8
    monkeypatch.setattr(shards, "_memory", lambda: 3 * shards.JOB_MEMORY + 1)
    assert shards.auto_jobs(project, SessionOptions(generated=4000)) == 3  # so does the memory free
    monkeypatch.setattr(shards, "_memory", lambda: 100 << 20)
    assert shards.auto_jobs(project, SessionOptions(generated=4000)) == 1
    monkeypatch.setattr(shards, "_memory", lambda: 1 << 40)
    monkeypatch.setattr(shards, "_cores", lambda: 2)
    assert shards.auto_jobs(project, SessionOptions(generated=0)) == 2
    # A route or two: their written cases alone (which routes generated cases take is known once drawn).
    users_me = sum(c.route == "users-me" for c in load_cases(project.parity.cases))
    assert users_me < 50 and shards.auto_jobs(project, SessionOptions(routes=("users-me",))) == 1
    # A named database cannot be shared: one job.
    assert shards.auto_jobs(project, SessionOptions(database_url="postgresql://u@h/x", generated=0)) == 1
    few = tmp_path / "cases"
    few.mkdir()
    (few / "me.toml").write_text('route = "users-me"\n[[cases]]\nid = "me"\npath = "/api/users/me/"\n')
    assert shards.auto_jobs(project, SessionOptions(cases=few, generated=0)) == 1
    (few / "broken.toml").write_text("route = \n")
    assert shards.auto_jobs(project, SessionOptions(cases=few, generated=0)) == 1  # the session says why


def test_the_pace_line_says_how_many_jobs_ran(scratch):
    result = invoke("--jobs", "2", "--no-report", "--route", "users-me", "--generated", "0")
    assert result.exit_code == 0, result.output
    assert re.search(
        r"all \d+ case\(s\) matched in [\d.]+ s, [\d.]+ cases/s \(2 jobs\)$", result.stdout.strip()
    )
