"""The engine's parts on their own: case files, comparison and rules, normalisation, redaction, the report."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cutover.parity.capture import _Normaliser, build_request, observe, row_changes
from cutover.parity.cases import Auth, Case, CaseError, load_cases, parse_auth
from cutover.parity.compare import Rule, diff_paths, differences, load_rules
from cutover.parity.fixture import build_fixture
from cutover.parity.redact import REDACTED, Redactor
from cutover.parity.report import Revision, current_revision, latest_status, write_report
from cutover.parity.targets import Response

# --- case files ---------------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_case_files_merge_defaults_and_keep_every_field(tmp_path):
    write(tmp_path, "mine.toml", """
route = "orders"
[defaults]
path = "/api/orders/"
auth = "token:alice"
[[cases]]
id = "list"
query = { page = "2", tag = ["a", "b"], flag = true }
[[cases]]
id = "create"
method = "post"
auth = "session:bob"
csrf = "missing"
body = { item = "x", count = 2 }
setup_sql = "DELETE FROM orders"
detect_noise = false
""")  # fmt: skip
    listed, created = load_cases(tmp_path)
    assert listed.key == "orders/list" and listed.auth == Auth("token", "alice")
    assert listed.query == (("page", "2"), ("tag", "a"), ("tag", "b"), ("flag", "true"))
    assert created.method == "POST" and created.json == {"item": "x", "count": 2}
    assert (
        created.auth == Auth("session", "bob", "missing")
        and str(created.auth) == "session:bob (csrf missing)"
    )
    assert created.setup_sql == ("DELETE FROM orders",) and not created.detect_noise and not created.safe
    assert listed.safe


def test_hooks_and_python_case_files(tmp_path):
    write(
        tmp_path,
        "_hooks.py",
        "def deeper(case, fixture):\n    return case.with_changes(path=case.path + fixture)\n",
    )
    write(
        tmp_path, "a.toml", 'route = "r"\n[[cases]]\nid = "hooked"\npath = "/x/"\nhook = "_hooks.py:deeper"\n'
    )
    write(tmp_path, "more.py", (
        "from cutover.parity.cases import Case\n"
        "def cases(fixture):\n    return [Case(id='from-python', route='r', path='/y/')]\n"
    ))  # fmt: skip
    hooked, extra = load_cases(tmp_path, fixture="42/")
    assert hooked.path == "/x/42/" and extra.key == "r/from-python"
    assert [c.id for c in load_cases(tmp_path, fixture="", routes=["other"])] == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[cases]]\nid = "x"\npath = "/"\n', "missing `route"),
        ('route = "r"\n[[cases]]\nid = "Bad Id"\npath = "/"\n', "id must be lowercase"),
        ('route = "r"\n[[cases]]\nid = "x"\npath = "no-slash"\n', "path must start with '/'"),
        ('route = "r"\n[[cases]]\nid = "x"\npath = "/"\nmethod = "BREW"\n', "unsupported method 'BREW'"),
        (
            'route = "r"\n[[cases]]\nid = "x"\npath = "/"\nbody = {}\nraw = ""\n',
            "only one of body, form, raw",
        ),
        ('route = "r"\n[[cases]]\nid = "x"\npath = "/"\nauth = "basic:me"\n', "auth must be 'anonymous'"),
        ('route = "r"\n[[cases]]\nid = "x"\npath = "/"\nhook = "nomodule"\n', "hook must be"),
        (
            'route = "r"\n[[cases]]\nid = "x"\npath = "/"\n[[cases]]\nid = "x"\npath = "/"\n',
            "duplicate case 'r/x'",
        ),
        ('route = "r"\n[[cases]\n', "mine.toml"),
    ],
)
def test_malformed_case_files_are_refused_with_the_place(tmp_path, text, message):
    write(tmp_path, "mine.toml", text)
    with pytest.raises(CaseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_cases(tmp_path)


def test_parse_auth():
    assert parse_auth(None) == parse_auth("anonymous") == Auth()
    assert parse_auth("token:demo") == Auth("token", "demo")
    with pytest.raises(CaseError):
        parse_auth("session:x", "sometimes")


# --- comparison -----------------------------------------------------------------------------------------

CASE = Case(id="c1", route="users", path="/api/users/")


def test_comparison_is_deep_order_and_type_sensitive():
    legacy = {"status": 200, "body": {"results": [{"id": 1}, {"id": 2}], "count": 2, "flag": True}}
    modern = {
        "status": 200,
        "body": {"results": [{"id": 2}, {"id": 1}], "count": "2", "flag": 1, "extra": None},
    }
    assert {d.path for d in diff_paths(legacy, modern)} == {
        "body.results[0].id", "body.results[1].id", "body.count", "body.flag", "body.extra",
    }  # fmt: skip
    assert diff_paths(legacy, json.loads(json.dumps(legacy))) == []


def test_noise_and_rules_excuse_only_their_paths():
    legacy = {"body": {"token": "a", "detail": "Not found.", "n": 1}}
    modern = {"body": {"token": "b", "detail": "Not Found", "n": 2}}
    rules = [
        Rule("users", "body.detail", "wording documented in migration_notes"),
        Rule("other", "body.n", "x"),
    ]
    found = {d.path: d for d in differences(CASE, legacy, modern, noise=["body.token"], rules=rules)}
    assert found["body.token"].kind == "noise"
    assert found["body.detail"].kind == "ignored" and found["body.detail"].reason.startswith("wording")
    assert found["body.n"].kind == "mismatch"  # the rule is for another route


def test_rule_patterns():
    rule = Rule("*", "body.results[*].last_login", "r", case="list-*")
    assert rule.applies(Case(id="list-a", route="x", path="/"), "body.results[3].last_login")
    assert not rule.applies(Case(id="get", route="x", path="/"), "body.results[3].last_login")
    assert not rule.applies(Case(id="list-a", route="x", path="/"), "body.results[3].email")
    assert Rule("*", "rows.**", "r").applies(CASE, "rows.users.121.row.is_active")


def test_rules_file(tmp_path):
    path = write(tmp_path, "rules.toml", '[[rules]]\nroute = "users"\npath = "body.x"\nreason = "because"\n')
    assert load_rules(path / "rules.toml") == [Rule("users", "body.x", "because")]
    assert load_rules(None) == [] and load_rules(tmp_path / "absent.toml") == []
    write(tmp_path, "bad.toml", '[[rules]]\nroute = "users"\npath = "body.x"\nreason = "  "\n')
    with pytest.raises(CaseError, match="written reason"):
        load_rules(tmp_path / "bad.toml")


# --- normalisation ----------------------------------------------------------------------------------


class FakeTarget:
    name = "t"
    origin = "http://127.0.0.1:8002"


def observed(case: Case, headers: list[tuple[str, str]], body: bytes, started: float, rows=({}, {})):
    response = Response(200, httpx.Headers(headers), body, started, 0.01)
    request = build_request(case, build_fixture())
    return observe(case, FakeTarget(), request, response, rows[0], rows[1], build_fixture()).data  # type: ignore[arg-type]


def test_normalisation_keeps_what_matters():
    now = datetime.now(UTC)
    body = {
        "next": "http://127.0.0.1:8002/api/users/?page=2",
        "joined": now.isoformat().replace("+00:00", "Z"),
        "expires": (now + timedelta(days=14)).isoformat(),
        "old": "2024-01-01T00:00:00Z",
    }
    headers = [
        ("Content-Type", "application/json ;charset=utf-8"), ("Allow", "POST, GET"), ("Vary", "Cookie, Accept"),
        ("Location", "http://127.0.0.1:8002/api/users/"), ("X-Frame-Options", "DENY"),
        ("Set-Cookie", "sessionid=abc123; expires=Thu, 01 Jan 2099 00:00:00 GMT; Max-Age=1209600; Path=/; HttpOnly"),
    ]  # fmt: skip
    data = observed(CASE, headers, json.dumps(body).encode(), now.timestamp())
    assert data["headers"] == {
        "content-type": "application/json; charset=utf-8",
        "allow": ["GET", "POST"],
        "vary": ["accept", "cookie"],
        "location": "<origin>/api/users/",
        "set-cookie": {
            "sessionid": {"value": "<6 characters>", "max-age": "1209600", "path": "/", "httponly": True}
        },
    }
    assert data["body"]["next"] == "<origin>/api/users/?page=2"
    assert data["body"]["joined"] == "<now> as dddd-dd-ddTdd:dd:dd.ddddddZ"
    assert data["body"]["expires"] == "<now+336.0h> as dddd-dd-ddTdd:dd:dd.dddddd+dd:dd"
    assert data["body"]["old"] == "2024-01-01T00:00:00Z"


def test_head_bodies_are_dropped_and_html_is_text():
    head = Case(id="h", route="users", method="HEAD", path="/")
    assert observed(head, [("Content-Type", "application/json")], b'{"a": 1}', 0)["body"] is None
    assert observed(CASE, [("Content-Type", "text/html")], b"<h1>Not Found</h1>", 0)["body"] == {
        "text": "<h1>Not Found</h1>"
    }


def test_password_hashes_are_compared_by_what_they_verify():
    from django.contrib.auth.hashers import make_password

    fixture = build_fixture()
    sent = Case(
        id="p", route="users", method="POST", path="/", json={"password": "a-long-unusual-passphrase-42"}
    )
    row = {"id": 2, "username": "alice", "password": fixture.password_hashes["alice"]}
    changed = {"users": {"2": {**row, "password": make_password("a-long-unusual-passphrase-42")}}}
    weaker = {
        "users": {
            "2": {**row, "password": make_password("a-long-unusual-passphrase-42", hasher="pbkdf2_sha1")}
        }
    }
    unusable = {"users": {"2": {**row, "password": "!xyz"}}}
    before = {"users": {"2": row}}
    norm = _Normaliser("", 0.0, sent, fixture)
    assert row_changes(before, changed, norm)["users"]["2"]["columns"]["password"] == {
        "algorithm": "pbkdf2_sha256", "iterations": "1000000", "verifies": "the password the request sent",
    }  # fmt: skip
    assert (
        row_changes(before, weaker, norm)["users"]["2"]["columns"]["password"]["algorithm"] == "pbkdf2_sha1"
    )
    assert row_changes(before, unusable, norm)["users"]["2"]["columns"]["password"] == "<unusable password>"
    assert row_changes(before, before, norm) == {}
    assert row_changes(before, {"users": {}}, norm) == {"users": {"2": {"op": "delete"}}}


# --- redaction --------------------------------------------------------------------------------------


def test_redaction_of_headers_bodies_and_known_secrets():
    fixture = build_fixture()
    redactor = Redactor(fixture.secrets())
    token = fixture.tokens["alice"]
    headers = redactor.headers([
        ("Authorization", f"Token {token}"), ("Cookie", f"sessionid={fixture.sessions['alice']}; csrftoken=x"),
        ("X-CSRFToken", fixture.csrf_token() or ""), ("Accept", "application/json"),
    ])  # fmt: skip
    assert headers == [
        ["Authorization", "Token ***"], ["Cookie", "sessionid=***; csrftoken=***"], ["X-CSRFToken", "***"],
        ["Accept", "application/json"],
    ]  # fmt: skip
    body = redactor.value({"username": "alice", "password": "hunter2-long", "nested": [{"token": "abc"}],
                           "detail": f"key {token} is wrong", "header": "Bearer abcdefghijklmnopqrstuvwxyz"})  # fmt: skip
    assert body == {"username": "alice", "password": REDACTED, "nested": [{"token": REDACTED}],
                    "detail": f"key {REDACTED} is wrong", "header": f"Bearer {REDACTED}"}  # fmt: skip
    # Descriptions survive; prose that merely mentions a token is not mangled.
    assert redactor.value({"password": {"algorithm": "pbkdf2_sha256", "verifies": "x"}})["password"][
        "algorithm"
    ]
    assert redactor.text("DRF's obtain-token view") == "DRF's obtain-token view"
    assert redactor.at("rows.authtoken_token.2.row.key", "<40 characters, hex>") == "<40 characters, hex>"
    assert redactor.at("body.token", "f" * 40) == REDACTED


# --- the report and its reader ----------------------------------------------------------------------


def report(tmp_path: Path, revision: Revision, **route) -> Path:
    entry = {"status": "green", "cases": 3, "matched": 3, "mismatched": 0, "errors": 0, "noise": 0} | route
    path = tmp_path / "report.json"
    write_report({"format": 1, "generated_at": "2026-11-28T02:00:00Z", "revision": revision.as_dict(),
                  "routes": {"users": entry}}, path)  # fmt: skip
    return path


def test_latest_status_is_green_only_for_this_revision(tmp_path):
    here = Revision("a" * 40, False)
    path = report(tmp_path, here)
    status = latest_status(path, "users", revision=here)
    assert status.green and status.status == "green" and status.generated_at == "2026-11-28T02:00:00Z"
    assert not latest_status(path, "users", revision=Revision("b" * 40, False)).green
    assert not latest_status(path, "users", revision=Revision("a" * 40, True, "digest")).green
    dirty = Revision("a" * 40, True, "d1")
    assert latest_status(report(tmp_path, dirty), "users", revision=dirty).green  # the very same changes
    assert not latest_status(report(tmp_path, dirty), "users", revision=Revision("a" * 40, True, "d2")).green


def test_latest_status_is_red_for_mismatches_and_missing_reports(tmp_path):
    here = Revision("a" * 40, False)
    red = latest_status(report(tmp_path, here, status="red", matched=2, mismatched=1), "users", revision=here)
    assert not red.green and not red.passed and "1 mismatched" in red.reason
    assert not latest_status(report(tmp_path, here, cases=0, matched=0), "users", revision=here).green
    assert "no cases for admin" in latest_status(report(tmp_path, here), "admin", revision=here).reason
    assert "no parity report" in latest_status(tmp_path / "absent.json", "users").reason
    (tmp_path / "junk.json").write_text("{not json")
    assert "unreadable" in latest_status(tmp_path / "junk.json", "users").reason


def test_current_revision_tracks_commit_and_uncommitted_changes(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=a@b.c", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x")
    clean = current_revision(tmp_path)
    assert not clean.dirty and len(clean.commit) == 40
    (tmp_path / "new.py").write_text("x = 1\n")
    first = current_revision(tmp_path)
    (tmp_path / "new.py").write_text("x = 2\n")
    second = current_revision(tmp_path)
    assert first.dirty and second.dirty and first.commit == clean.commit and first.tree != second.tree


def test_generated_cases_are_deterministic_per_seed_and_spread_over_the_routes():
    from cutover.parity.generated import generated_cases

    first, again, other = generated_cases(12, 1), generated_cases(12, 1), generated_cases(12, 2)
    assert len(first) == 12 and [c.key for c in first] == [c.key for c in again]
    assert [(c.method, c.path, c.query, c.json if c.has_json else c.form) for c in first] == [
        (c.method, c.path, c.query, c.json if c.has_json else c.form) for c in again
    ]
    assert [(c.path, c.query) for c in first] != [(c.path, c.query) for c in other]
    assert {c.route for c in first} == {"auth-token", "users", "user-detail", "users-me"}
    assert all(c.generated and c.auth.kind in ("anonymous", "token", "session") for c in first)
