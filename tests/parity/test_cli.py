"""``cutover parity`` through typer's CliRunner: exit codes, the table, diffs, the JSON and JUnit reports.

The in-process runs here use pytest-django's test database (``--database-url``, since Django is already
configured in this process) and the legacy itself over ASGI as the control, so that exit 0 is a fact of
the engine; the altered control must exit 1 naming the case and the path.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.parity.verdict import Revision, verdict

from . import fixture_demo
from .apps import this_run_database_url
from .conftest import CASES_DIR, PROJECT

pytestmark = pytest.mark.django_db

CONTROL = "tests.parity.apps:legacy_asgi_app"
ALTERED = "tests.parity.apps:renamed_field_on_legacy_app"


def invoke(*args: str):
    return CliRunner().invoke(app, ["parity", *args])


def in_process(tmp_path: Path, *args: str):
    return invoke(
        "--database-url", this_run_database_url().libpq(), "--generated", "0",
        "--report", str(tmp_path / "report.json"), *args,
    )  # fmt: skip


def no_secrets(text: str) -> None:
    # The demo fixture's own secrets (what a session mints is random, and scrubbed the same way).
    secrets = [fixture_demo.token_key(name) for name in fixture_demo.TOKEN_HOLDERS]
    secrets += [fixture_demo.session_key(kind, "alice") for kind in fixture_demo.BROKEN_SESSIONS]
    secrets += [fixture_demo.DEMO_PASSWORD, fixture_demo.COMMON_PASSWORD, "paritycsrfsecret0123456789ABCDEF"]
    for secret in secrets:
        assert secret not in text


def test_identical_apps_exit_0_with_a_table_and_a_green_report(tmp_path):
    junit = tmp_path / "junit.xml"
    result = in_process(tmp_path, "--modern-app", CONTROL, "--route", "users-me", "--junit", str(junit))
    assert result.exit_code == 0, result.output
    cases = sum(1 for line in (CASES_DIR / "users-me.toml").read_text().splitlines() if line == "[[cases]]")
    assert f"all {cases} case(s) matched in " in result.stdout
    assert re.search(rf"all {cases} case\(s\) matched in \d+\.\d s, \d+\.\d cases/s", result.stdout)
    assert "users-me" in result.stdout and "green" in result.stdout

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["format"] == 1 and report["mode"] == "in-process"
    route = report["routes"]["users-me"]
    assert (route["status"], route["cases"], route["matched"], route["mismatched"]) == (
        "green",
        cases,
        cases,
        0,
    )
    # The manifest's routes are listed; those not run are red with no cases: a --route run never vouches
    # for the others.
    assert set(report["routes"]) == {"auth-token", "users", "users-me", "user-detail", "admin", "static"}
    assert report["routes"]["admin"]["status"] == "red" and report["routes"]["admin"]["cases"] == 0

    made_from = Revision.from_dict(report["revision"])
    clean = Revision(made_from.commit, False)
    status = verdict(tmp_path / "report.json", "users-me", revision=clean)
    assert status.passed and status.counts["cases"] == cases
    # green only for a report of a clean tree at the commit checked out now
    assert status.green == (not made_from.dirty)
    stale = verdict(tmp_path / "report.json", "users-me", revision=Revision("0" * 40, False))
    assert not stale.green and stale.passed
    assert not verdict(tmp_path / "report.json", "admin", revision=clean).green

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "users-me"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (str(cases), "0", "0")


def test_a_difference_exits_1_with_a_readable_diff_and_a_red_report(tmp_path):
    junit = tmp_path / "junit.xml"
    result = in_process(tmp_path, "--modern-app", ALTERED, "--route", "users-me", "--junit", str(junit))
    assert result.exit_code == 1, result.output
    assert "users-me/token-alice: GET /api/users/me/ as token:alice" in result.stdout
    assert '  body.username\n    legacy: "alice"\n    modern: <absent>' in result.stdout
    assert "case(s) did not match" in result.stdout
    no_secrets(result.output)

    text = (tmp_path / "report.json").read_text()
    no_secrets(text)
    route = json.loads(text)["routes"]["users-me"]
    assert route["status"] == "red" and route["mismatched"] >= 1
    mismatch = next(m for m in route["mismatches"] if m["case"] == "users-me/token-alice")
    assert {"path": "body.username", "legacy": "alice", "modern": "<absent>"} in mismatch["differences"]
    assert mismatch["request"]["headers"] == [["Authorization", "Token ***"]]
    assert not verdict(tmp_path / "report.json", "users-me").green

    failures = [tc for tc in ET.parse(junit).getroot().iter("testcase") if tc.find("failure") is not None]
    assert "token-alice" in {tc.get("name") for tc in failures}
    no_secrets(junit.read_text())


def test_a_route_run_keeps_the_other_routes_of_a_report_of_the_same_revision(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "me.toml").write_text('route = "users-me"\n[[cases]]\nid = "me"\npath = "/api/users/me/"\n')
    (cases / "list.toml").write_text('route = "users"\n[[cases]]\nid = "list"\npath = "/api/users/"\n')
    for route in ("users-me", "users"):
        result = in_process(tmp_path, "--cases", str(cases), "--modern-app", CONTROL, "--route", route)
        assert result.exit_code == 0, result.output
    routes = json.loads((tmp_path / "report.json").read_text())["routes"]
    assert routes["users-me"]["status"] == routes["users"]["status"] == "green"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--legacy", "http://127.0.0.1:8001"], "live mode needs both --legacy URL and --modern URL"),
        (["--reset-database-url", "postgresql://x@localhost/x"], "need --legacy/--modern"),
        (
            ["--route", "users", "--jobs", "1"],
            "Django is already configured in this process: pass --database-url",
        ),
        (["--jobs", "0"], "--jobs must be a number from 1 to 32, or auto; got '0'"),
        (["--jobs", "many"], "--jobs must be a number from 1 to 32, or auto; got 'many'"),
        (["--database-url", "mysql://x@localhost/x"], "must be a postgresql:// URL"),
        (["--database-url", "postgresql://x@localhost/other"], "names 'other'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--route", "nope"], "no cases for route(s) nope"),
        (["--modern-app", "no.such.module:app"], "the modern app: cannot import 'no.such.module'"),
        (["--modern-app", "fastapi_app"], "the ASGI app must be module:attribute"),
        (["--cases", "/nonexistent"], "no cases directory at /nonexistent"),
    ],
)
def test_setup_errors_exit_2_with_one_line(tmp_path, args, message):
    result = in_process(tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_broken_case_file_is_a_usage_error_naming_the_file(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "mine.toml").write_text(
        'route = "users"\n[[cases]]\nid = "x"\npath = "/api/users/"\nverb = "GET"\n'
    )
    result = in_process(tmp_path, "--cases", str(cases), "--modern-app", CONTROL)
    assert result.exit_code == 2
    assert "mine.toml case 'x': unknown key(s) verb" in result.stderr


def test_a_rule_without_a_reason_is_a_usage_error(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rules]]\nroute = "users"\npath = "body.detail"\n')
    result = in_process(tmp_path, "--rules", str(rules), "--modern-app", CONTROL, "--route", "users-me")
    assert result.exit_code == 2
    assert "every rule needs a written reason" in result.stderr


def test_the_command_in_a_fresh_process_starts_and_removes_its_own_database(tmp_path):
    # What `cutover parity` does outside pytest: a throwaway PostgreSQL, migrated, both apps in-process.
    import os
    import subprocess
    import sys
    import tempfile

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    before = set(Path(tempfile.gettempdir()).glob("cutover-parity-pg-*"))
    proc = subprocess.run(
        [sys.executable, "-m", "cutover", "parity", "--route", "users-me", "--generated", "0", "--no-noise",
         "--report", str(tmp_path / "report.json")],
        cwd=Path(__file__).parents[2], env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all " in proc.stdout and "case(s) matched" in proc.stdout
    assert "Traceback" not in proc.stderr and "Unauthorized" not in proc.stderr
    assert json.loads((tmp_path / "report.json").read_text())["routes"]["users-me"]["status"] == "green"
    assert set(Path(tempfile.gettempdir()).glob("cutover-parity-pg-*")) == before


# --- setup errors of a project's config: one line, exit 2, nothing written --------------------------------


def project_config(tmp_path: Path, parity: str = "", settings: str = "legacy_django.settings") -> Path:
    from .conftest import PROJECT

    cases = tmp_path / "cases"
    cases.mkdir(exist_ok=True)
    if not any(cases.iterdir()):
        (cases / "me.toml").write_text('route = "users-me"\n[[cases]]\nid = "me"\npath = "/api/users/me/"\n')
    config = tmp_path / "cutover.toml"
    config.write_text(
        f'[legacy]\nsettings = "{settings}"\n[modern]\nasgi = "{CONTROL}"\n'
        f'[proxy]\nmanifest = "{PROJECT.proxy.manifest}"\n'
        f'[parity]\ncases = "cases"\nreport = "report.json"\n{parity}'
    )
    return config


def refused(config: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["--config", str(config), "parity", "--database-url", this_run_database_url().libpq(), "--generated",
              "0", *args],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert result.stdout == "", result.stdout  # the error is all there is: not even a blank line before it
    assert not (config.parent / "report.json").exists()  # nothing written
    return lines[0]


def test_a_fixture_file_missing(tmp_path):
    config = project_config(tmp_path, 'fixture = ["fixtures/users.json"]\n')
    assert f"fixture file {tmp_path / 'fixtures' / 'users.json'} does not exist" in refused(config)


def test_a_table_in_the_config_not_in_the_database(tmp_path):
    config = project_config(tmp_path, 'tables = ["users", "orders"]\n')
    assert "table 'orders' in [parity] tables is not in the database" in refused(config)


def test_no_table_compares_responses_and_says_nothing_is_reset(tmp_path):
    """An API whose own apps have no models (or `tables = []`): responses are compared, nothing is reset,
    and the run says so rather than refusing to run."""
    config = project_config(tmp_path, "tables = []\n")
    result = CliRunner().invoke(
        app, ["--config", str(config), "parity", "--database-url", this_run_database_url().libpq(), "--generated",
              "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "no table is compared or reset: the project's own apps have no models" in result.stdout
    assert "all 1 case(s) matched" in result.stdout
    assert json.loads((tmp_path / "report.json").read_text())["routes"]["users-me"]["status"] == "green"


def test_an_identity_not_in_the_fixture(tmp_path):
    tables = 'tables = ["users", "authtoken_token", "django_session"]\n'
    config = project_config(tmp_path, f'fixture = ["tests.parity.fixture_demo:build"]\n{tables}')
    (tmp_path / "cases" / "me.toml").write_text(
        'route = "users-me"\n[[cases]]\nid = "me"\npath = "/api/users/me/"\nauth = "token:nobody"\n'
    )
    assert "users-me/me: identity token:nobody: no user 'nobody' in the fixture" in refused(config)


def test_an_identity_not_in_the_fixture_names_the_case_that_uses_it(tmp_path):
    # Anonymous cases (of another route, and of this one) come first: the error names the case whose
    # identity is missing, not the first case without a credential.
    tables = 'tables = ["users", "authtoken_token", "django_session"]\n'
    config = project_config(tmp_path, f'fixture = ["tests.parity.fixture_demo:build"]\n{tables}')
    (tmp_path / "cases" / "a.toml").write_text(
        'route = "users"\n[[cases]]\nid = "anonymous"\npath = "/api/users/"\n'
    )
    (tmp_path / "cases" / "me.toml").write_text(
        'route = "users-me"\n[[cases]]\nid = "anonymous"\npath = "/api/users/me/"\n'
        '[[cases]]\nid = "as-nobody"\npath = "/api/users/me/"\nauth = "token:nobody"\n'
    )
    line = refused(config)
    assert "users-me/as-nobody: identity token:nobody: no user 'nobody' in the fixture" in line, line


def test_a_case_of_a_route_not_in_the_manifest_is_refused(tmp_path):
    config = project_config(tmp_path, 'tables = ["users"]\n')
    (tmp_path / "cases" / "typo.toml").write_text(
        'route = "no-such-route"\n[[cases]]\nid = "me"\npath = "/api/users/me/"\n'
    )
    line = refused(config)
    assert (
        f"{tmp_path / 'cases' / 'typo.toml'} case 'me': route 'no-such-route' is not a route id of the manifest "
        "(known: auth-token, users, users-me, user-detail, admin, static)"
    ) in line, line


def test_the_known_route_ids_are_cut_short_when_many(tmp_path):
    from cutover.parity.cases import Case, CaseError, check_routes

    ids = [f"route-{n:02d}" for n in range(30)]
    with pytest.raises(CaseError) as raised:
        check_routes([Case(id="a", route="route-00", path="/"), Case(id="b", route="nope", path="/", source="x.toml")],
                     ids, tmp_path)  # fmt: skip
    message = str(raised.value)
    assert message.startswith(
        f"{tmp_path / 'x.toml'} case 'b': route 'nope' is not a route id of the manifest"
    )
    assert "route-09, ... (30 in all))" in message and "route-10" not in message


def test_the_table_shows_a_route_as_written_without_a_manifest(tmp_path):
    # No manifest to check route ids against: a bracketed id is the project's text, not rich markup.
    config = project_config(tmp_path, 'tables = ["users"]\n')
    config.write_text(
        config.read_text().replace(f'manifest = "{PROJECT.proxy.manifest}"', 'manifest = "none.toml"')
    )
    (tmp_path / "cases" / "me.toml").write_text(
        'route = "users[bold]"\n[[cases]]\nid = "me"\npath = "/api/users/me/"\n'
    )
    result = CliRunner().invoke(
        app, ["--config", str(config), "parity", "--database-url", this_run_database_url().libpq(), "--generated",
              "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "users[bold]" in result.stdout, result.stdout


def test_an_openapi_schema_refused(tmp_path, monkeypatch):
    from drf_spectacular.generators import SchemaGenerator

    def refuse(self, *args, **kwargs):
        raise RuntimeError("no schema today\nsecond line")

    monkeypatch.setattr(SchemaGenerator, "get_schema", refuse)
    config = project_config(tmp_path, 'tables = ["users"]\n')
    line = refused(config, "--generated", "5")
    assert "drf-spectacular refused to generate the OpenAPI schema: RuntimeError: no schema today" in line


def test_the_table_keeps_route_ids_whole_in_an_80_column_log(tmp_path, monkeypatch):
    """Off a terminal rich takes 80 columns: ids with a common prefix must not both become `article-…`."""
    from cutover.commands import parity as parity_command

    monkeypatch.setattr(parity_command.console, "width", 80)  # what a CI log gets (conftest sets 200)
    config = project_config(tmp_path, 'tables = ["users"]\n')
    config.write_text(
        config.read_text().replace(f'manifest = "{PROJECT.proxy.manifest}"', 'manifest = "none.toml"')
    )
    routes = ["article-comments-by-author-detail", "article-comments-by-author-list"]
    (tmp_path / "cases" / "me.toml").unlink()
    for route in routes:
        (tmp_path / "cases" / f"{route}.toml").write_text(
            f'route = "{route}"\n[[cases]]\nid = "me"\npath = "/api/users/me/"\n'
        )
    result = parity_run(config, "--generated", "0")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "article-" in line]
    assert len(rows) == 2 and all("…" not in row for row in rows), result.stdout
    for route, row in zip(routes, rows, strict=True):
        assert re.match(rf"│ {route} +│ +1 │ +1 │ +0 │ +0 │ +0 │ +0 │ green +│$", row), row


INCOMPATIBLE_SCHEMA_URLS = "tests.parity.incompatible_schema_urls"  # drf-spectacular refuses its schema
WITHOUT_GENERATED = "; run with --generated 0 to skip generated cases, or set [parity] generated = 0"


def parity_run(config: Path, *args: str):
    """`cutover parity` on this run's database, with --generated only as ``args`` give it."""
    return CliRunner().invoke(
        app, ["--config", str(config), "parity", "--database-url", this_run_database_url().libpq(), *args]
    )


def test_a_schema_drf_spectacular_refuses_says_how_to_go_on(tmp_path, settings):
    settings.ROOT_URLCONF = INCOMPATIBLE_SCHEMA_URLS
    config = project_config(tmp_path, 'tables = ["users"]\n')
    line = refused(config, "--generated", "5")
    assert line.startswith(
        "cutover: error: drf-spectacular refused to generate the OpenAPI schema: AssertionError: Incompatible "
        "AutoSchema used on View"
    ), line
    assert line.endswith(WITHOUT_GENERATED), line


def test_parity_generated_in_the_config_is_the_default_and_the_flag_wins(tmp_path, settings):
    settings.ROOT_URLCONF = INCOMPATIBLE_SCHEMA_URLS
    config = project_config(tmp_path, 'tables = ["users"]\ngenerated = 0\n')
    result = parity_run(config)  # no schema is asked for
    assert result.exit_code == 0, result.output
    assert "all 1 case(s) matched" in result.stdout
    result = parity_run(config, "--generated", "3")
    assert result.exit_code == 2 and result.stderr.strip().endswith(WITHOUT_GENERATED), result.output
    config = project_config(tmp_path, 'tables = ["users"]\ngenerated = 3\n')
    result = parity_run(config)
    assert result.exit_code == 2 and result.stderr.strip().endswith(WITHOUT_GENERATED), result.output
    assert parity_run(config, "--generated", "0").exit_code == 0


def test_a_settings_module_not_importable(tmp_path):
    import os
    import subprocess
    import sys

    config = project_config(tmp_path, settings="no_such_project.settings")
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    proc = subprocess.run(
        [sys.executable, "-m", "cutover", "--config", str(config), "parity", "--generated", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == (
        f"cutover: error: the settings module 'no_such_project.settings' is not importable from {tmp_path}"
    )
    assert not (tmp_path / "report.json").exists()
