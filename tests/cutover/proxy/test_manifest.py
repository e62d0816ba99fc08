"""The routing manifest: the demo file, validation (one clear line per problem), comment-preserving edits."""

from __future__ import annotations

import difflib

import pytest

from cutover.proxy.manifest import (
    ManifestError,
    load_manifest,
    parse_manifest,
    set_route_mode,
    set_route_shadow,
)

from .conftest import REPO

DEMO = REPO / "migration_notes" / "routes.toml"


def demo_text() -> str:
    return DEMO.read_text(encoding="utf-8")


def test_demo_manifest_covers_the_users_api_all_on_legacy():
    manifest = load_manifest(DEMO)
    ids = [r.id for r in manifest.routes]
    assert {"auth-token", "users", "user-detail", "users-me", "admin"} <= set(ids)
    assert all(r.mode == "legacy" for r in manifest.routes)
    assert manifest.backends["legacy"].servers == ("127.0.0.1:8001",)
    assert manifest.backends["modern"].servers == ("127.0.0.1:8002",)
    assert manifest.route("admin").pinned and manifest.route("admin").match == "prefix"
    assert manifest.route("static").pinned
    assert manifest.route("user-detail").match == "pattern"
    assert manifest.route("users").match == "exact"


USERS_MODE = 'path = "/api/users/"\nmethods = ["*"]\nmode = "legacy"'
# case: (text in the demo manifest, replacement, what the one-line error must say)
BROKEN = {
    "not toml": ("\n[default]\n", "\n[[routes]\nid=\n", "not valid TOML"),
    "unknown top-level key": ("\n[default]\n", "\n[backend]\nx = 1\n\n[default]\n", "unknown key 'backend'"),
    "bad mode": (
        USERS_MODE,
        USERS_MODE.replace("legacy", "moden"),
        "mode must be one of legacy, canary, modern",
    ),
    "canary without percent": (USERS_MODE, USERS_MODE.replace("legacy", "canary"), "integer from 1 to 99"),
    "percent 100": (
        USERS_MODE,
        USERS_MODE.replace("legacy", "canary") + "\npercent = 100",
        "use mode 'legacy' for 0 and 'modern' for 100",
    ),
    "unanchored pattern": ('path = "^/api/users/', 'path = "/api/users/', "a pattern must be anchored"),
    "invalid regex": ('"^/api/users/[^/]+/$"', '"^/api/users/[^/+/$"', "not a valid regular expression"),
    "pinned moved": (
        'path = "/admin/"\nmode = "legacy"',
        'path = "/admin/"\nmode = "modern"',
        "stays on legacy",
    ),
    "duplicate id": ('id = "users-me"', 'id = "users"', "route id 'users' is used twice"),
    "same path and methods": (
        'path = "/api/users/me/"',
        'path = "/api/users/"',
        "both match exact '/api/users/'",
    ),
    "address twice": (
        'servers = ["127.0.0.1:8002"]',
        'servers = ["127.0.0.1:8001"]',
        "listed in both backends",
    ),
    "bad address": ('servers = ["127.0.0.1:8002"]', 'servers = ["127.0.0.1"]', "is not 'host:port'"),
    "default elsewhere": ('backend = "legacy"', 'backend = "modern"', "[default] backend must be 'legacy'"),
    "lowercase method": ('methods = ["POST"]', 'methods = ["post"]', "upper-case HTTP methods"),
    "typo in a route key": ('sticky = "client"', 'stiky = "client"', "unknown key 'stiky'"),
    "prefix slash": ('path = "/static/"', 'path = "/"', "prefix '/' is the default route"),
    "no backends": ("[backends.modern]", "[elsewhere.modern]", "unknown key 'elsewhere'"),
    "request line over gunicorn's maximum": (
        "worker_processes = 2",
        "worker_processes = 2\nlimit_request_line = 8191",
        "limit_request_line must be an integer from 64 to 8190 (got 8191)",
    ),
    "unlimited request line": (
        "worker_processes = 2",
        "worker_processes = 2\nlimit_request_line = 0",
        "limit_request_line must be an integer from 64 to 8190 (got 0)",
    ),
    "too many fields for gunicorn": (
        "worker_processes = 2",
        "worker_processes = 2\nlimit_request_fields = 40000",
        "limit_request_fields must be an integer from 16 to 32768",
    ),
    "field size as a string": (
        "worker_processes = 2",
        'worker_processes = 2\nlimit_request_field_size = "8k"',
        "limit_request_field_size must be an integer from 256 to 65536 (got '8k')",
    ),
}


def broken(case: str) -> str:
    old, new, _ = BROKEN[case]
    text = demo_text()
    assert old in text, case
    return text.replace(old, new, 1)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_an_invalid_manifest_is_one_clear_line_naming_the_problem(case):
    text = broken(case)
    assert text != demo_text()
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text, source="routes.toml")
    message = str(exc.value)
    assert BROKEN[case][2] in message
    assert message.startswith("routes.toml")
    assert "\n" not in message


def test_the_request_limits_default_to_gunicorns_and_can_be_set():
    default = parse_manifest(demo_text()).proxy
    assert (default.limit_request_line, default.limit_request_fields, default.limit_request_field_size) == (
        4094,
        100,
        8190,
    )
    text = demo_text().replace(
        "worker_processes = 2",
        "worker_processes = 2\nlimit_request_line = 8190\nlimit_request_fields = 50\nlimit_request_field_size = 16384",
    )
    proxy = parse_manifest(text).proxy
    assert (proxy.limit_request_line, proxy.limit_request_fields, proxy.limit_request_field_size) == (
        8190,
        50,
        16384,
    )


def test_move_changes_only_the_mode_lines_and_keeps_every_comment():
    before = demo_text()
    after = set_route_mode(before, "user-detail", "canary", 25, source="routes.toml")
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == ['-mode = "legacy"', '+mode = "canary"', "+percent = 25"]
    # percent lands right after mode, inside the route, not after the next section's comment
    route = after[after.index('id = "user-detail"') : after.index("# --- pinned")]
    assert 'mode = "canary"\npercent = 25\n' in route
    assert parse_manifest(after).route("user-detail").percent == 25


def test_moving_back_removes_the_percent_and_restores_the_file_exactly():
    original = demo_text()
    canary = set_route_mode(original, "users", "canary", 5, source="r")
    bigger = set_route_mode(canary, "users", "canary", 50, source="r")
    assert bigger.count("percent = 50") == 1 and "percent = 5\n" not in bigger
    assert set_route_mode(bigger, "users", "legacy", source="r") == original


def test_move_refuses_what_the_manifest_would_refuse():
    text = demo_text()
    with pytest.raises(ManifestError, match="pinned to legacy and cannot move"):
        set_route_mode(text, "admin", "modern", source="r")
    with pytest.raises(ManifestError, match="needs --percent"):
        set_route_mode(text, "users", "canary", source="r")
    with pytest.raises(ManifestError, match="--percent applies only to --to canary"):
        set_route_mode(text, "users", "modern", 30, source="r")
    with pytest.raises(ManifestError, match="from 1 to 99"):
        set_route_mode(text, "users", "canary", 0, source="r")
    with pytest.raises(ManifestError, match=r"no route with id 'nope' \(routes: auth-token, users"):
        set_route_mode(text, "nope", "modern", source="r")


def test_set_route_shadow_edits_one_key_keeping_the_comments_and_zero_removes_it():
    text = demo_text()
    shadowed = set_route_shadow(text, "user-detail", 25, source="routes.toml")
    assert parse_manifest(shadowed).route("user-detail").shadow == 25
    assert [line for line in shadowed.splitlines() if line not in text.splitlines()] == ["shadow = 25"]
    again = set_route_shadow(shadowed, "user-detail", 60, source="routes.toml")
    assert parse_manifest(again).route("user-detail").shadow == 60
    assert set_route_shadow(again, "user-detail", 0, source="routes.toml") == text
    with pytest.raises(ManifestError, match="nope"):
        set_route_shadow(text, "nope", 10, source="routes.toml")
