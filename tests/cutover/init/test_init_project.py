"""``cutover init`` on a project with no config yet (the demo's settings, in a scratch folder): what it
writes, that running it again changes nothing, and what it does when the URLconf grows or shrinks."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cutover.config import load_config
from cutover.init.manifest_file import GONE
from cutover.init.project import InitOptions, init_project
from cutover.parity.cases import Case, load_cases
from cutover.proxy.manifest import load_manifest, set_route_mode


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    (tmp_path / "manage.py").write_text("# the project's manage.py\n")
    return tmp_path


def init(root: Path, **options) -> object:
    return init_project(load_config(start=root, environ={}), InitOptions(**options))


def test_a_first_run_writes_config_manifest_and_cases(project_dir):
    result = init(project_dir, modern="fastapi_app.main:app", users=("alice",))
    written = sorted(str(p.relative_to(project_dir)) for p in result.written)
    assert written == sorted(
        ["cutover.toml", "routes.toml"]
        + [f"parity/cases/{r}.toml" for r in ("auth-token", "schema", "user-list", "user-me", "user-detail")]
    )
    config = load_config(start=project_dir, environ={})
    assert config.legacy.settings == "legacy_django.settings"
    assert config.legacy.wsgi == "legacy_django.wsgi:application"
    assert config.modern.asgi == "fastapi_app.main:app"
    text = (project_dir / "cutover.toml").read_text()
    assert "token, session" in text and "'sessionid'" in text and "'csrftoken'" in text
    manifest = load_manifest(config.proxy.manifest)
    assert {r.id for r in manifest.routes} == {"admin", "static", "auth-token", "schema", "user-list",
                                                "user-me", "user-detail"}  # fmt: skip
    assert all(r.mode == "legacy" for r in manifest.routes)
    cases = load_cases(config.parity.cases)
    assert {c.route for c in cases} <= {r.id for r in manifest.routes}
    detail = {c.id: c for c in cases if c.route == "user-detail"}
    assert detail["anonymous"].path == "/api/users/1/"
    assert detail["not-found"].path == "/api/users/999999999/"
    assert str(detail["as-token-alice"].auth) == "token:alice"
    assert {c.method for c in cases if c.route == "user-list"} == {"GET", "HEAD", "POST", "OPTIONS"}
    from cutover.proxy.inventory import project_inventory

    findings, _ = project_inventory(config, manifest)
    assert [f for f in findings if f.kind in ("uncovered", "stale", "not-served")] == []  # every URL a route


def test_the_starter_cases_send_head_and_options_where_the_route_takes_them(project_dir, settings):
    settings.ROOT_URLCONF = "tests.cutover.init.urls_sample"
    init(project_dir)
    config = load_config(start=project_dir, environ={})
    routes = {r.id: r for r in load_manifest(config.proxy.manifest).routes}
    sent: dict[str, dict[str, Case]] = {}  # route -> method -> its first case
    for case in load_cases(config.parity.cases):
        sent.setdefault(case.route, {}).setdefault(case.method, case)
    assert set(sent["blog-post"]) == {"GET", "HEAD", "POST", "OPTIONS"}  # a class-based view
    assert set(sent["tag"]) == {"GET", "DELETE", "OPTIONS"}  # DRF's @api_view: no HEAD (405 there)
    assert set(sent["thing-polish"]) == {"POST", "OPTIONS"}  # no GET: no HEAD
    assert set(sent["article-year"]) == {"GET", "HEAD", "POST", "OPTIONS"}  # a function view: "*"
    for route_id, by_method in sent.items():
        methods = set(routes[route_id].methods)
        assert ("HEAD" in by_method) == bool(methods & {"HEAD", "*"}), route_id
        assert ("OPTIONS" in by_method) == bool(methods & {"OPTIONS", "*"}), route_id
        for method in ("HEAD", "OPTIONS"):
            if method in by_method:
                case = by_method[method]
                assert case.id == method.lower() and case.auth.anonymous  # as the first GET case asks
                assert case.path == by_method.get("GET", case).path


def test_a_made_up_sample_value_is_marked_in_its_case_file(project_dir, settings):
    settings.ROOT_URLCONF = "tests.cutover.init.urls_sample"
    init(project_dir)
    cases = project_dir / "parity" / "cases"
    article = (cases / "article-detail.toml").read_text()  # DRF lookup_field = "slug"
    assert tomllib.loads(article)["defaults"]["path"] == "/api/articles/example-slug/"
    assert (
        "# REPLACE: slug 'example-slug' in [defaults] path was made up by `init`:\n"
        "# put a slug your [parity] fixture holds, else the cases only meet a 404.\n"
    ) in article
    assert (
        "# CHECK: pk '1' in [defaults] path was guessed by `init`:\n"
        in (cases / "thing-detail.toml").read_text()
    )
    assert "REPLACE" not in (cases / "thing-list.toml").read_text()  # no parameter, nothing made up
    assert "CHECK" not in (cases / "thing-list.toml").read_text()


def test_generated_cases_are_left_on_where_they_can_run(project_dir):
    init(project_dir)
    assert (
        "# generated = 40   # cases drawn from the OpenAPI schema"
        in (project_dir / "cutover.toml").read_text()
    )
    assert load_config(start=project_dir, environ={}).parity.generated == 40


def test_without_what_generated_cases_need_init_turns_them_off_and_says_why(project_dir, monkeypatch):
    """A project without drf-spectacular: `cutover parity` right after `init` runs, not a setup error."""
    monkeypatch.setitem(sys.modules, "drf_spectacular", None)  # what find_spec meets when it is absent
    init(project_dir)
    text = (project_dir / "cutover.toml").read_text()
    assert "# No generated cases: they need drf-spectacular, not here; once there,\n" in text
    assert load_config(start=project_dir, environ={}).parity.generated == 0


def test_a_user_named_by_email_gives_case_ids_the_loader_takes(project_dir):
    """A user model whose USERNAME_FIELD is the email: the identity keeps it, the case id is made of
    what an id may hold."""
    init(project_dir, users=("alice@example.com",))
    cases = load_cases(load_config(start=project_dir, environ={}).parity.cases)
    me = {c.id: c for c in cases if c.route == "user-me"}
    assert str(me["as-token-alice-example.com"].auth) == "token:alice@example.com"


def test_running_it_again_changes_nothing(project_dir):
    init(project_dir, users=("alice",))
    before = {p: p.read_bytes() for p in project_dir.rglob("*.toml")}
    again = init(project_dir, users=("alice",))
    assert again.written == [] and again.added == [] and again.marked == []
    assert init(project_dir, dry_run=True).diff == ""
    assert {p: p.read_bytes() for p in project_dir.rglob("*.toml")} == before


def test_a_grown_urlconf_adds_its_route_and_keeps_what_the_user_edited(project_dir, settings):
    init(project_dir)
    manifest = project_dir / "routes.toml"
    edited = set_route_mode(manifest.read_text(), "user-detail", "canary", 10, source="routes.toml")
    edited = edited.replace('id = "user-me"', 'id = "me"  # renamed by the team')
    manifest.write_text(edited)
    case_file = project_dir / "parity" / "cases" / "user-list.toml"
    case_file.write_text(case_file.read_text() + "# the team's notes\n")

    settings.ROOT_URLCONF = "tests.cutover.init.urls_grown"
    preview = init(project_dir, dry_run=True)
    assert '+id = "health"' in preview.diff and manifest.read_text() == edited
    result = init(project_dir)
    assert result.added == ["health"] and result.marked == []
    grown = manifest.read_text()
    assert grown.startswith(edited)  # appended, nothing before it changed
    routes = {r.id: r for r in load_manifest(manifest).routes}
    assert (routes["health"].match, routes["health"].path) == ("exact", "/api/health/")
    assert routes["user-detail"].mode == "canary" and "user-me" not in routes and "me" in routes
    assert case_file.read_text().endswith("# the team's notes\n")
    assert (project_dir / "parity" / "cases" / "health.toml").is_file()


def test_a_shrunk_urlconf_marks_the_gone_route_once(project_dir, settings):
    init(project_dir)
    settings.ROOT_URLCONF = "tests.cutover.init.urls_shrunk"
    result = init(project_dir)
    assert result.marked == ["auth-token"] and result.added == []
    text = (project_dir / "routes.toml").read_text()
    assert f'id = "auth-token" # {GONE}' in text
    assert "auth-token" in {r.id for r in load_manifest(project_dir / "routes.toml").routes}  # not removed
    assert init(project_dir).marked == []


def test_the_config_can_go_into_pyproject_leaving_the_rest_of_it(project_dir):
    pyproject = project_dir / "pyproject.toml"
    pyproject.write_text('[project]\nname = "shop"  # ours\n\n[tool.ruff]\nline-length = 100\n')
    init(project_dir, pyproject=True)
    text = pyproject.read_text()
    assert text.startswith('[project]\nname = "shop"  # ours\n\n[tool.ruff]\nline-length = 100\n')
    data = tomllib.loads(text)
    assert data["tool"]["cutover"]["legacy"]["settings"] == "legacy_django.settings"
    assert load_config(start=project_dir, environ={}).source == pyproject
    assert not (project_dir / "cutover.toml").exists()


def test_outside_a_django_project_it_says_so(tmp_path):
    from cutover.config import ConfigError

    with pytest.raises(ConfigError, match="is not a Django project"):
        init(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_answers_a_folder_that_is_no_django_project_with_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cutover.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"cutover: error: {tmp_path} is not a Django project: no manage.py and no [legacy] settings"
    ]
    assert list(tmp_path.iterdir()) == []


def test_the_cli_refuses_a_modern_app_that_is_no_import_string(project_dir, monkeypatch):
    from typer.testing import CliRunner

    from cutover.cli import app

    monkeypatch.chdir(project_dir)
    result = CliRunner().invoke(app, ["init", "--modern", "fastapi_app/main.py"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "cutover: error: --modern must be 'module:attribute', got 'fastapi_app/main.py'"
    ]
    assert sorted(p.name for p in project_dir.iterdir()) == ["manage.py"]


def test_the_cli_says_which_pattern_it_left_to_the_legacy(project_dir, settings, monkeypatch):
    from typer.testing import CliRunner

    from cutover.cli import app

    settings.ROOT_URLCONF = "tests.cutover.init.urls_sample"
    monkeypatch.chdir(project_dir)
    result = CliRunner().invoke(app, ["init"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert (
        "left to [default] (legacy): '^twice/(?P<a>[a-z]+)/(?P=a)/$': a back-reference, which the front door"
        " cannot follow" in result.output
    )
    assert "wrote routes.toml" in result.output
    text = (project_dir / "routes.toml").read_text()
    assert text.count("# cutover init: no route for '^twice/(?P<a>[a-z]+)/(?P=a)/$': a back-reference") == 1
    again = CliRunner().invoke(app, ["init"], env={"COLUMNS": "300"})
    assert again.exit_code == 0 and (project_dir / "routes.toml").read_text() == text  # noted once


def test_users_named_after_the_case_files_exist_are_told_the_files_stay(project_dir, monkeypatch):
    """--user shapes new starter files; a second run with it says the files there are kept, and which
    way to get the users' cases, instead of "everything is up to date"."""
    from typer.testing import CliRunner

    from cutover.cli import app

    monkeypatch.chdir(project_dir)
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    cases = sorted((project_dir / "parity" / "cases").glob("*.toml"))
    before = {path: path.read_text() for path in cases}
    again = CliRunner().invoke(app, ["init", "--user", "alice"], env={"COLUMNS": "300"})
    assert again.exit_code == 0, again.output
    (line,) = again.stdout.splitlines()
    assert line.startswith(f"--user alice: {len(cases)} starter case file(s) exist and are never rewritten")
    assert "delete one to have it written again" in line
    assert {path: path.read_text() for path in cases} == before
    plain = CliRunner().invoke(app, ["init"])
    assert plain.stdout == "cutover init: everything is up to date\n"


def test_the_cli_dry_run_prints_whole_lines(project_dir, monkeypatch):
    from typer.testing import CliRunner

    from cutover.cli import app

    monkeypatch.chdir(project_dir)
    preview = CliRunner().invoke(app, ["init", "--dry-run"])
    assert preview.exit_code == 0 and preview.stdout.startswith("--- ") and preview.stdout.endswith("\n")
    assert sorted(p.name for p in project_dir.iterdir()) == ["manage.py"]  # nothing written
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    again = CliRunner().invoke(app, ["init", "--dry-run"])
    assert again.exit_code == 0 and again.stdout == "cutover init: nothing would change\n"


def test_settings_that_do_not_import_are_one_line_and_nothing_is_written(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "manage.py").write_text(
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "missing_site.settings")\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "CUTOVER_CONFIG")}
    proc = subprocess.run(
        [sys.executable, "-m", "cutover", "init"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"cutover: error: the settings module 'missing_site.settings' is not importable from {tmp_path}"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manage.py"]


def test_in_a_git_work_tree_the_toolkit_s_own_folders_are_ignored(project_dir):
    """.cutover/ (the parity report, the audit log) and .data/ (the stack's cluster and nginx prefix) are no
    code: added to .gitignore, after what it had, once; no .gitignore outside git."""
    init(project_dir)
    assert not (project_dir / ".gitignore").exists()  # not a git work tree
    subprocess.run(["git", "init", "-q"], cwd=project_dir, check=True)
    (project_dir / ".gitignore").write_text("__pycache__/\n/.data\n")
    result = init(project_dir)
    assert project_dir / ".gitignore" in result.written
    lines = (project_dir / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["__pycache__/", "/.data"] and lines[-1] == ".cutover/" and ".data/" not in lines
    (project_dir / ".cutover").mkdir()
    (project_dir / ".cutover" / "parity-report.json").write_text("{}")
    after = subprocess.run(["git", "status", "--porcelain"], cwd=project_dir, text=True, capture_output=True,
                           check=True).stdout  # fmt: skip
    assert ".cutover" not in after and ".gitignore" in after
    again = init(project_dir)
    assert project_dir / ".gitignore" not in again.written and init(project_dir, dry_run=True).diff == ""


def test_a_project_without_drf_or_models_gets_a_config_that_runs(tmp_path):
    """A plain Django project (JsonResponse views, no models of its own): no generated cases (no schema to
    draw from), responses only, Django's session login; the config loads as written."""
    from cutover.init.config_file import ProjectFacts, config_text

    facts = ProjectFacts(
        settings="plain_site.settings", wsgi="plain_site.wsgi:application", session_cookie="sessionid",
        csrf_cookie="csrftoken", schemes=("session",), tables=(),
        missing_for_generated=("a DRF API (rest_framework in INSTALLED_APPS)",), drf=False,
    )  # fmt: skip
    text = config_text(facts, None, "routes.toml", "parity/cases")
    assert "# No generated cases: they need a DRF API (rest_framework in INSTALLED_APPS), not here" in text
    assert "# tables: none (the project's own apps have no models): responses only," in text
    assert "# identities Django takes: session" in text
    (tmp_path / "cutover.toml").write_text(text)
    parity = load_config(start=tmp_path, environ={}).parity
    assert parity.generated == 0 and parity.tables is None
