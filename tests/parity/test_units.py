"""The engine's parts on their own: case files, comparison and rules, normalisation, redaction."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutover.parity.capture import _Normaliser, build_request, observe, row_changes
from cutover.parity.cases import Auth, Case, CaseError, load_cases, parse_auth
from cutover.parity.compare import Rule, diff_paths, differences, load_rules
from cutover.parity.fixture import Fixture
from cutover.parity.identities import Credential, Csrf
from cutover.parity.redact import REDACTED, Redactor
from cutover.parity.tables import Table, Tables
from cutover.parity.targets import Response

ALICE_TOKEN = "a1" * 20
ALICE_SESSION = "s" * 32
TABLES = Tables(
    compared=(Table("users", ("id",), serial=True), Table("authtoken_token", ("key",)),
              Table("django_session", ("session_key",))),
    hashed=frozenset({("users", "password")}),
    session=("django_session", "session_data"),
    secret_columns=frozenset({("authtoken_token", "key"), ("django_session", "session_key")}),
    user=("users", "username"),
)  # fmt: skip


def unit_fixture() -> Fixture:
    """A fixture as the engine holds it once loaded, without a database: alice, her token and session."""
    from django.contrib.auth.hashers import make_password

    alice_hash = _cached_hash("fixture-password-123")
    assert make_password  # Django's own hashing, as the loaded fixture has it
    return Fixture(
        tables=TABLES,
        csrf=Csrf("csrftoken", "X-CSRFToken"),
        passwords={"alice": "fixture-password-123"},
        credentials={
            ("token", "alice"): Credential(
                headers=(("Authorization", f"Token {ALICE_TOKEN}"),), secrets=(ALICE_TOKEN,)
            ),
            ("session", "alice"): Credential(
                cookies=(("sessionid", ALICE_SESSION),), secrets=(ALICE_SESSION,)
            ),
        },
        rows={"users": {"2": {"id": 2, "username": "alice", "password": alice_hash}}},
    )


_HASHES: dict[str, str] = {}


def _cached_hash(password: str) -> str:
    from django.contrib.auth.hashers import make_password

    if password not in _HASHES:
        _HASHES[password] = make_password(password)
    return _HASHES[password]


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
    # A hook runs when its case does, with the fixture as loaded.
    assert hooked.path == "/x/" and hooked.prepared("42/").path == "/x/42/" and extra.key == "r/from-python"
    assert hooked.prepared("42/").prepared("more/").path == "/x/42/"  # applied once
    assert [c.id for c in load_cases(tmp_path, fixture="", routes=["other"])] == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[cases]]\nid = "x"\npath = "/"\n', "missing `route"),
        ('route = "r"\n[[cases]]\nid = "Bad Id"\npath = "/"\n', "id must be lowercase"),
        ('route = "r"\n[[cases]]\nid = "x"\npath = "no-slash"\n', "path must start with '/'"),
        ('route = "r"\n[[cases]]\nid = "x"\n', "no path (in the case or the file's"),
        ('route = "r"\n[[cases]]\nid = "x"\npath = "/"\nmethod = "BREW"\n', "unsupported method 'BREW'"),
        (
            'route = "r"\n[[cases]]\nid = "x"\npath = "/"\nbody = {}\nraw = ""\n',
            "only one of body, form, raw",
        ),
        ('route = "r"\n[[cases]]\nid = "x"\npath = "/"\nauth = "token"\n', "auth must be 'anonymous'"),
        ('route = "r"\n[[cases]]\nid = "x"\npath = "/"\nauth = "Bad:me"\n', "SCHEME:USER"),
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


def test_a_set_valued_header_differs_as_a_whole_not_by_index():
    """Allow and Vary are sets, kept sorted: two lists of other lengths differ as wholes (the port's [3] is
    PATCH where the legacy's is OPTIONS: "allow[3]: OPTIONS / <absent>" misled)."""
    legacy = {"status": 200, "headers": {"allow": ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "PUT"]}}
    modern = {"status": 200, "headers": {"allow": ["DELETE", "GET", "HEAD", "PATCH"], "vary": ["cookie"]}}
    found = diff_paths(legacy, modern)
    assert [(d.path, d.legacy, d.modern) for d in found] == [
        ("headers.allow", legacy["headers"]["allow"], modern["headers"]["allow"]),
        ("headers.vary", "<absent>", ["cookie"]),
    ]
    assert diff_paths(legacy, {**legacy, "status": 201})[0].path == "status"  # the rest as before


_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, width=16),
    st.text(max_size=2),
    st.binary(max_size=2),
    st.decimals(places=1, min_value=-2, max_value=2, allow_nan=False),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=1))])),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(_VALUES, _VALUES)
def test_the_shortcut_for_equal_observations_misses_nothing_deepdiff_finds(a, b):
    """diff_paths skips DeepDiff for observations alike all the way down: drawn pairs (1 and True, 1 and
    1.0, one instant in two zones, Decimal 1 and 1.0, NaN) show it never hides what DeepDiff reports,
    and that it answers for an observation compared with an exact copy of itself."""
    from deepdiff import DeepDiff

    from cutover.parity.compare import _identical

    if _identical(a, b):
        assert not DeepDiff(a, b, ignore_order=False, verbose_level=2, view="tree")
    assert bool(diff_paths(a, b)) == bool(DeepDiff(a, b, ignore_order=False, verbose_level=2, view="tree"))
    assert diff_paths(a, copy.deepcopy(a)) == []


def test_the_shortcut_tells_apart_what_equality_does_not():
    from cutover.parity.compare import _identical

    instant = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert not _identical({"n": 1}, {"n": True}) and not _identical([1], [1.0])
    assert not _identical(instant, instant.astimezone(timezone(timedelta(hours=1))))
    assert not _identical(Decimal("1.0"), Decimal("1.00")) and not _identical({"a": 1}, {"a": 1, "b": 2})
    row = {"rows": [{"at": instant, "n": Decimal("1.0"), "tags": ("a", b"b")}]}
    assert _identical(row, copy.deepcopy(row))
    assert diff_paths({"n": 1}, {"n": True})[0].path == "n"


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
    fixture = unit_fixture()
    request = build_request(case, fixture)
    return observe(case, FakeTarget(), request, response, rows[0], rows[1], fixture).data  # type: ignore[arg-type]


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

    fixture = unit_fixture()
    sent = Case(
        id="p", route="users", method="POST", path="/", json={"password": "a-long-unusual-passphrase-42"}
    )
    row = dict(fixture.rows["users"]["2"])
    changed = {"users": {"2": {**row, "password": make_password("a-long-unusual-passphrase-42")}}}
    weaker = {
        "users": {
            "2": {**row, "password": make_password("a-long-unusual-passphrase-42", hasher="pbkdf2_sha1")}
        }
    }
    unusable = {"users": {"2": {**row, "password": "!xyz"}}}
    before = {"users": {"2": row}}
    norm = _Normaliser("", 0.0, sent, fixture)
    assert row_changes(before, changed, norm, TABLES)["users"]["2"]["columns"]["password"] == {
        "algorithm": "pbkdf2_sha256", "iterations": "1000000", "verifies": "the password the request sent",
    }  # fmt: skip
    assert (
        row_changes(before, weaker, norm, TABLES)["users"]["2"]["columns"]["password"]["algorithm"]
        == "pbkdf2_sha1"
    )
    assert (
        row_changes(before, unusable, norm, TABLES)["users"]["2"]["columns"]["password"]
        == "<unusable password>"
    )
    assert row_changes(before, before, norm, TABLES) == {}
    assert row_changes(before, {"users": {}}, norm, TABLES) == {"users": {"2": {"op": "delete"}}}


# --- redaction --------------------------------------------------------------------------------------


def test_redaction_of_headers_bodies_and_known_secrets():
    fixture = unit_fixture()
    redactor = Redactor(fixture.secrets())
    token = ALICE_TOKEN
    headers = redactor.headers([
        ("Authorization", f"Token {token}"), ("Cookie", f"sessionid={ALICE_SESSION}; csrftoken=x"),
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


def test_a_credential_the_view_does_not_take_is_said():
    """The demo's views authenticate by token and session: a jwt or basic case is anonymous to them, and a
    401 from both apps would pass as parity of an authenticated request. The project's own schemes, paths
    Django does not resolve and anonymous cases are left alone."""
    from cutover.parity.session import _credentials_not_taken

    from .conftest import PROJECT

    me = "/api/users/me/"
    cases = [
        Case(id="jwt", route="users-me", path=me, auth=Auth("jwt", "alice")),
        Case(id="jwt-again", route="users-me", path=me + "?format=json", auth=Auth("jwt", "bob")),
        Case(id="token", route="users-me", path=me, auth=Auth("token", "alice")),
        Case(id="session", route="users-me", path=me, auth=Auth("session", "alice")),
        Case(id="basic", route="users", path="/api/users/", auth=Auth("basic", "alice")),
        Case(id="own", route="users-me", path=me, auth=Auth("tampered-token", "alice")),
        Case(id="nowhere", route="users-me", path="/no/such/path/", auth=Auth("jwt", "alice")),
        Case(id="anonymous", route="users-me", path=me),
    ]
    view = "legacy_django.users.views.UserViewSet, which takes token, session"
    assert _credentials_not_taken(cases, PROJECT) == [
        f"2 case(s) send jwt credentials to {view}: to it they are anonymous (first: users-me/jwt)",
        f"1 case(s) send basic credentials to {view}: to it they are anonymous (first: users/basic)",
    ]
