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

import pytest

from cutover.parity.cases import Case

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
