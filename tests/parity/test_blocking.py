"""The blocking-call detector (cutover/parity/blocking.py): on a bare ASGI app, then through ``cutover
parity`` and ``cutover check-async`` on the demo's port broken on purpose (tests/parity/blocking_ports.py)
and on the unaltered port.

The CLI runs use pytest-django's test database (``--database-url``) and a few cases per route, written
here, so that each run takes seconds.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib
import json
import logging
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.config import ConfigError, parse_config
from cutover.parity.blocking import SLOW_STEP_CPU, BlockingCall, BlockingDetector
from cutover.parity.verdict import Revision, verdict

from .apps import this_run_database_url

HERE = Path(__file__).parent
BROKEN = "tests.parity.blocking_ports:broken_port"
REAL = "tests.parity.apps:modern_app"
PORTS = "tests/parity/blocking_ports.py:"

# --- the detector on a bare ASGI app ---------------------------------------------------------------------


def _library_function(source: str, name: str) -> Any:
    """``name`` from ``source`` compiled as if it were an installed package's code."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "/opt/venv/lib/python3.11/site-packages/somelib/__init__.py", "exec"), namespace)
    return namespace[name]


_LIBRARY_STAT = _library_function("import os\ndef lookup(path):\n    return os.stat(path)\n", "lookup")
_LIBRARY_WAIT = _library_function("import time\ndef wait():\n    time.sleep(0.01)\n", "wait")


async def _bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/sleep":
        time.sleep(0.01)  # noqa: ASYNC251
    elif path == "/hash":
        hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 50_000)
    elif path == "/cpu":
        started = time.thread_time()
        while time.thread_time() - started < 0.08:
            pass
    elif path == "/thread":
        await asyncio.to_thread(time.sleep, 0.01)  # off the loop: fine
    elif path == "/stat":
        os.stat(__file__)
    elif path == "/library-stat":
        _LIBRARY_STAT(__file__)  # a library's own metadata lookup: tolerated
    elif path == "/library-sleep":
        _LIBRARY_WAIT()
    elif path == "/gc":
        gc.collect()  # the runtime's pause, not the port's code
    elif path == "/import":
        importlib.import_module(scope["module"])  # a first use: its module-level work runs once
    elif path == "/log":
        logging.getLogger("tests.blocking").info("a log record on the loop")
    await asyncio.sleep(0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _found(
    path: str, slow_step_cpu: float = SLOW_STEP_CPU, app: Any = _bare, **scope: Any
) -> list[BlockingCall]:
    async def run() -> list[BlockingCall]:
        with BlockingDetector(HERE.parents[1], slow_step_cpu=slow_step_cpu) as detector:
            wrapped = detector.wrap(app)
            time.sleep(0)  # noqa: ASYNC251 - blocking work outside a request: never counted

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b""}

            async def send(message: dict[str, Any]) -> None:
                pass

            request = {"type": "http", "path": path, "method": "GET", "headers": [], "query_string": b""}
            await wrapped({**request, **scope}, receive, send)
            return detector.take()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("path", "function", "kind"),
    [
        ("/sleep", "time.sleep", "call"),
        ("/hash", "hashlib.pbkdf2_hmac", "call"),
        ("/cpu", "tests.parity.test_blocking._bare", "step"),
        ("/stat", "os.stat", "call"),
    ],
)
def test_a_blocking_call_is_recorded_with_its_function_frame_and_duration(path, function, kind):
    (call,) = _found(path)
    assert (call.kind, call.function) == (kind, function)
    assert call.frame.startswith("tests/parity/test_blocking.py:") and call.frame.endswith(" in _bare")
    assert call.held >= (0.01 if path == "/sleep" else 0.05 if path == "/cpu" else 0.0)
    assert call.via == ()


def test_a_call_made_through_a_library_names_it_and_the_projects_frame():
    (call,) = _found("/library-sleep")
    assert (call.function, call.via) == ("time.sleep", ("somelib",))
    assert call.frame.startswith("tests/parity/test_blocking.py:") and call.frame.endswith(" in _bare")
    assert call.culprit == "time.sleep (via somelib)"


@pytest.mark.parametrize("path", ["/", "/thread", "/log", "/library-stat"])
def test_nothing_is_recorded_for_work_off_the_loop_a_log_record_or_a_librarys_lookup(path, caplog):
    caplog.set_level(logging.INFO)
    assert _found(path) == []


def test_a_garbage_collection_in_a_step_is_not_the_ports_cpu():
    heap = [[i] for i in range(400_000)]  # something for the collector to walk
    started = time.thread_time()
    gc.collect()
    took = time.thread_time() - started
    assert _found("/gc", slow_step_cpu=took / 3) == []
    del heap


def test_a_step_that_imports_a_module_is_a_first_use_not_reported(tmp_path, monkeypatch):
    (tmp_path / "heavy_module_for_the_test.py").write_text(
        "import time\nstarted = time.thread_time()\nwhile time.thread_time() - started < 0.08:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _found("/import", module="heavy_module_for_the_test") == []
    assert "heavy_module_for_the_test" in sys.modules


def test_fastapi_runs_a_def_endpoint_in_a_thread_and_an_async_def_one_on_the_loop():
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/def")
    def in_a_thread() -> dict[str, str]:
        time.sleep(0.01)  # FastAPI runs a def endpoint in its threadpool: fine
        return {}

    @api.get("/async-def")
    async def on_the_loop() -> dict[str, str]:
        time.sleep(0.01)  # noqa: ASYNC251 - the mistake
        return {}

    assert _found("/def", app=api) == []
    (call,) = _found("/async-def", app=api)
    assert call.function == "time.sleep" and call.frame.endswith(" in on_the_loop")
    assert call.via == ()  # called by the project's own code directly: fastapi is below it, not between


def test_the_functions_are_restored_afterwards():
    before = (time.sleep, hashlib.pbkdf2_hmac, asyncio.events.Handle._run)
    _found("/sleep")
    assert (time.sleep, hashlib.pbkdf2_hmac, asyncio.events.Handle._run) == before


def test_without_blockbuster_the_check_is_one_line_naming_the_way_out(monkeypatch):
    from cutover.errors import CutoverError

    before = (time.sleep, asyncio.events.Handle._run)
    monkeypatch.setitem(sys.modules, "blockbuster", None)  # what `import blockbuster` meets when absent
    with pytest.raises(CutoverError, match=r"needs blockbuster, which is not installed: .*--no-blocking-check$"):
        with BlockingDetector(Path.cwd()):
            pass
    assert (time.sleep, asyncio.events.Handle._run) == before  # nothing patched, nothing left behind


def test_blocking_policy_is_validated_in_one_line():
    assert parse_config({"parity": {"blocking": "warn"}}, root=HERE, source=None).parity.blocking == "warn"
    assert parse_config({}, root=HERE, source=None).parity.blocking == "fail"
    with pytest.raises(ConfigError, match=r"\[parity\] blocking must be 'fail' or 'warn', got 'loud'"):
        parse_config({"parity": {"blocking": "loud"}}, root=HERE, source=None)


# --- through the CLI, on the demo's port -----------------------------------------------------------------

CASES = {
    "users.toml": """route = "users"
[defaults]
path = "/api/users/"
auth = "token:alice"
[[cases]]
id = "list-first-page"
[[cases]]
id = "list-second-page"
query = { page = "2" }
""",
    "user-detail.toml": """route = "user-detail"
[defaults]
path = "/api/users/2/"
auth = "token:alice"
[[cases]]
id = "get-self"
""",
    "auth-token.toml": """route = "auth-token"
[defaults]
path = "/api/auth/token/"
method = "POST"
auth = "anonymous"
[[cases]]
id = "existing-token"
body = { username = "alice", password = "fixture-password-123" }
""",
    "users-me.toml": """route = "users-me"
[defaults]
path = "/api/users/me/"
auth = "token:alice"
[[cases]]
id = "token-alice"
""",
    "signup.toml": """route = "users"
[[cases]]
id = "signup-ok"
path = "/api/users/"
method = "POST"
auth = "anonymous"
body = { username = "newcomer", email = "newcomer@example.com", password = "a-long-unusual-passphrase-42" }
""",
}


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    folder = tmp_path / "cases"
    folder.mkdir()
    for name, text in CASES.items():
        (folder / name).write_text(text)
    return folder


def _parity(tmp_path: Path, cases: Path, *args: str, config: Path | None = None, noise: bool = False):
    extra = ["--config", str(config)] if config else []
    return CliRunner().invoke(app, [
        *extra, "parity", "--database-url", this_run_database_url().libpq(), "--generated", "0",
        "--noise" if noise else "--no-noise", "--report", str(tmp_path / "report.json"), "--cases", str(cases),
        *args,
    ])  # fmt: skip


def _blocking(report: dict[str, Any], route: str) -> dict[str, list[dict[str, Any]]]:
    by_case: dict[str, list[dict[str, Any]]] = {}
    for entry in report["routes"][route]["blocking"]:
        by_case.setdefault(entry["case"], []).append(entry)
    return by_case


@pytest.mark.django_db
def test_each_mistake_is_reported_on_its_route_with_its_culprit_and_frame(tmp_path, cases):
    result = _parity(tmp_path, cases, "--modern-app", BROKEN, "--junit", str(tmp_path / "junit.xml"))
    assert result.exit_code == 1, result.output
    out = result.stdout
    # The comparison still ran, and matched: the blocking calls are reported in addition.
    assert "all 6 case(s) matched" in out
    assert "5 case(s) made a blocking call on the modern app's event loop: not green" in out
    assert (
        "users/list-first-page: GET /api/users/ as token:alice\n  blocked the event loop: psycopg.waiting."
        in out
    )
    assert "held the loop" in out and f"at {PORTS}" in out

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["blocking"] == {"checked": True, "policy": "fail"}
    users = _blocking(report, "users")
    assert set(users) == {"users/list-first-page", "users/list-second-page"}  # not the sign-up, not /me/
    sync = [e for e in users["users/list-first-page"] if e["function"].startswith("psycopg.waiting.wait")]
    assert sync and sync[0]["via"] == ["sqlalchemy", "psycopg"]
    assert sync[0]["frame"].startswith(PORTS) and sync[0]["frame"].endswith(" in block")
    assert all(e["held_ms"] > 0 for e in sync)

    (sleep,) = _blocking(report, "user-detail")["user-detail/get-self"]
    assert (sleep["function"], sleep["kind"]) == ("time.sleep", "call") and sleep["held_ms"] >= 20
    assert sleep["frame"].startswith(PORTS)

    hashing = _blocking(report, "auth-token")["auth-token/existing-token"]
    pbkdf2 = next(e for e in hashing if e["function"] == "hashlib.pbkdf2_hmac")
    # the innermost frame of the project's own code: the port's helper that the mistake called
    assert pbkdf2["frame"].startswith("fastapi_app/compat/passwords.py:") and pbkdf2["held_ms"] > 50

    http = _blocking(report, "users-me")["users-me/token-alice"]
    functions = {e["function"] for e in http}
    assert {"socket.socket.connect", "socket.socket.send", "socket.socket.recv"} <= functions, functions
    assert all(e["via"][:1] == ["httpx"] and e["frame"].startswith(PORTS) for e in http)

    junit = {tc.get("name"): tc for tc in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")}
    failure = junit["get-self"].find("failure")
    assert failure is not None and failure.get("message") == "a blocking call on the event loop"
    assert "blocked the event loop: time.sleep" in (failure.text or "")
    assert junit["signup-ok"].find("failure") is None

    for route in ("users", "user-detail", "auth-token", "users-me"):
        entry = report["routes"][route]
        assert entry["status"] == "red" and entry["mismatched"] == 0 and entry["blocked"] >= 1
        found = verdict(tmp_path / "report.json", route, revision=Revision.from_dict(report["revision"]))
        assert not found.green and "made a blocking call on the event loop" in found.reason


@pytest.mark.django_db
def test_with_blocking_warn_the_route_stays_green_with_a_warning(tmp_path, cases):
    config = tmp_path / "cutover.toml"
    root = HERE.parents[1]
    config.write_text(f"""
[legacy]
settings = "legacy_django.settings"
wsgi = "legacy_django.wsgi:application"
[modern]
asgi = "fastapi_app.main:app"
[proxy]
manifest = "{root}/migration_notes/routes.toml"
[parity]
fixture = ["{root}/tests/parity/fixture_demo.py:build"]
tables = ["users", "users_groups", "users_user_permissions", "authtoken_token", "django_session"]
blocking = "warn"
[identities.schemes]
tampered-token = "tests.parity.identities:tampered_token"
""")
    result = _parity(tmp_path, cases, "--modern-app", BROKEN, "--route", "user-detail", config=config)
    assert result.exit_code == 0, result.output
    assert 'made a blocking call on the modern app\'s event loop: a warning ([parity] blocking = "warn")' in (
        result.stdout
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["blocking"]["policy"] == "warn"
    assert report["routes"]["user-detail"]["status"] == "green"
    found = verdict(tmp_path / "report.json", "user-detail", revision=Revision.from_dict(report["revision"]))
    assert found.passed and found.warnings and "time.sleep" in found.warnings[0]


@pytest.mark.django_db
def test_a_mismatch_and_a_blocking_call_are_both_reported(tmp_path, cases):
    result = _parity(
        tmp_path, cases, "--modern-app", "tests.parity.blocking_ports:renamed_and_sleeping_app",
        "--route", "users-me",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert '  body.username\n    legacy: "alice"\n    modern: <absent>' in result.stdout
    assert "blocked the event loop: time.sleep held the loop" in result.stdout
    route = json.loads((tmp_path / "report.json").read_text())["routes"]["users-me"]
    assert route["mismatched"] == 1 and route["blocked"] == 1


@pytest.mark.django_db
def test_the_unaltered_port_reports_nothing(tmp_path, cases):
    # Sign-up and login hash passwords (in a thread), lists, sessions: on the real port, with the cases
    # of the demo's own suite for users-me and auth-token besides.
    for name in ("users-me.toml", "auth-token.toml", "_hooks.py"):
        (cases / name).write_text((HERE / "cases" / name).read_text())
    result = _parity(tmp_path, cases, "--modern-app", REAL, noise=True)  # new tokens are noise
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["totals"]["blocked"] == 0
    assert all(not entry.get("blocking") for entry in report["routes"].values())
    assert "blocking call" not in result.stdout


@pytest.mark.django_db
def test_no_blocking_check_turns_it_off(tmp_path, cases):
    result = _parity(tmp_path, cases, "--modern-app", BROKEN, "--route", "user-detail", "--no-blocking-check")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["blocking"]["checked"] is False and "blocking" not in report["routes"]["user-detail"]


@pytest.mark.django_db
def test_check_async_reports_per_route_without_comparing(tmp_path, cases):
    result = CliRunner().invoke(app, [
        "check-async", "--database-url", this_run_database_url().libpq(), "--cases", str(cases),
        "--modern-app", BROKEN, "--route", "user-detail", "--route", "auth-token",
    ])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "user-detail/get-self: GET /api/users/2/ as token:alice\n  blocked the event loop: time.sleep" in (
        result.stdout
    )
    assert "blocked the event loop: hashlib.pbkdf2_hmac held the loop" in result.stdout
    assert "2 of 2 case(s) made a blocking call on the event loop" in result.stdout
    assert "legacy" not in result.stdout  # nothing compared

    clean = CliRunner().invoke(app, [
        "check-async", "--database-url", this_run_database_url().libpq(), "--cases", str(cases),
        "--modern-app", REAL,
    ])  # fmt: skip
    assert clean.exit_code == 0, clean.output
    assert "no blocking call on the event loop in 6 case(s)" in clean.stdout
