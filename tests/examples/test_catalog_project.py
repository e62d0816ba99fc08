"""The catalog example as a project: its migrations, its settings, its config, manifest and parity cases.

The example is used by the toolkit only through its config (``examples/catalog/cutover.toml``): these
tests read that config, manifest and case files the way the toolkit's docs describe them, and run the
project's own Django commands in its own virtualenv.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import httpx
import pytest

from cutover.config import BUILTIN_SCHEMES, load_config
from cutover.proxy.manifest import load_manifest

from .catalog_env import FIXTURE, PROJECT, manage
from .conftest import Catalog
from .http_parity import FRONT_DOOR

CONFIG = PROJECT / "cutover.toml"
PORTED = {"products": {"GET", "HEAD", "POST"}, "product-detail": {"GET", "HEAD"}}
# docs/parity.md, "Keys of a case"
CASE_KEYS = {
    "id",
    "method",
    "path",
    "query",
    "headers",
    "body",
    "form",
    "raw",
    "content_type",
    "auth",
    "csrf",
    "description",
    "setup_sql",
    "detect_noise",
    "hook",
}


def venv_python(catalog_bin: Path, code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(catalog_bin / "python"), "-c", code],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_migrations_are_what_makemigrations_generates(catalog: Catalog) -> None:
    manage(catalog.bin, catalog.env, "makemigrations", "--check", "--dry-run", "-v", "0")


def test_django_system_checks_pass(catalog: Catalog) -> None:
    manage(catalog.bin, catalog.env, "check", "--fail-level", "WARNING")


def _pg(**kw: object) -> dict[str, object]:
    return {"NAME": "catalog", "USER": "cutover", "PASSWORD": "", "HOST": "", "PORT": "", "OPTIONS": {}, **kw}


def _asyncpg(**kw: object) -> dict[str, object]:
    return {"host": None, "port": None, "user": "cutover", "password": None, "database": "catalog", **kw}


# DATABASE_URL -> (Django's DATABASES["default"], what SQLAlchemy hands asyncpg.connect)
DATABASE_URLS = {
    # the unix-socket form libpq and the toolkit's embedded server use
    "postgresql://cutover@/catalog?host=/tmp/Socket%20Dir": (
        _pg(HOST="/tmp/Socket Dir"),
        _asyncpg(host="/tmp/Socket Dir"),
    ),
    "postgresql://cutover@/catalog?host=/run/pg&port=5433": (
        _pg(HOST="/run/pg", PORT="5433"),
        _asyncpg(host="/run/pg", port=5433),
    ),
    # a percent-encoded socket directory as the host
    "postgresql://cutover@%2Fvar%2Frun%2FPostgreSQL/catalog": (
        _pg(HOST="/var/run/PostgreSQL"),
        _asyncpg(host="/var/run/PostgreSQL"),
    ),
    "postgres://shop:p%40ss%3Aword@DB.example.com:6543/shop_db?sslmode=require": (
        _pg(
            NAME="shop_db",
            USER="shop",
            PASSWORD="p@ss:word",
            HOST="DB.example.com",
            PORT="6543",
            OPTIONS={"sslmode": "require"},
        ),
        _asyncpg(
            database="shop_db",
            user="shop",
            password="p@ss:word",
            host="DB.example.com",
            port=6543,
            ssl="require",
        ),
    ),
    "postgresql://cutover@[::1]:5432/catalog": (
        _pg(HOST="::1", PORT="5432"),
        _asyncpg(host="::1", port=5432),
    ),
}


def test_both_apps_read_database_url_in_libpq_form(catalog_bin: Path) -> None:
    code = f"""
import json
from sqlalchemy.dialects.postgresql.asyncpg import dialect
from catalog_site.database import parse_database_url
from catalog_api.settings import Settings
out = {{}}
for url in {list(DATABASE_URLS)!r}:
    django = parse_database_url(url)
    django.pop("ENGINE")
    _args, connect = dialect().create_connect_args(Settings(DATABASE_URL=url).sqlalchemy_url())
    defaults = {{"host": None, "port": None, "user": None, "password": None, "database": None}}
    out[url] = [django, {{**defaults, **connect}}]
print(json.dumps(out))
"""
    parsed = json.loads(venv_python(catalog_bin, code))
    for url, (django, port) in DATABASE_URLS.items():
        assert parsed[url] == [django, port], url


def test_the_legacy_refuses_a_missing_or_foreign_database_url(catalog_bin: Path) -> None:
    code = """
from django.core.exceptions import ImproperlyConfigured
from catalog_site.database import parse_database_url
for url in ("mysql://u@h/db", "postgresql://u@h/"):
    try:
        parse_database_url(url)
    except ImproperlyConfigured as exc:
        print(exc)
"""
    assert venv_python(catalog_bin, code).splitlines() == [
        "DATABASE_URL must be a postgresql:// URL, not 'mysql'",
        "DATABASE_URL names no database",
    ]


def test_the_config_names_the_project_as_it_is() -> None:
    config = load_config(explicit=CONFIG)
    assert config.root == PROJECT
    manage_py = (PROJECT / "manage.py").read_text()
    assert f'"DJANGO_SETTINGS_MODULE", "{config.legacy.settings}"' in manage_py
    assert (PROJECT / (config.legacy.settings or "").replace(".", "/")).with_suffix(".py").exists()
    module, _, attribute = (config.modern.asgi or "").partition(":")
    assert (PROJECT / module.replace(".", "/")).with_suffix(".py").exists() and attribute == "app"
    assert config.proxy.manifest == PROJECT / "routes.toml"
    assert config.parity.cases.is_dir() and config.parity.rules.exists()
    assert [PROJECT / f for f in config.parity.fixture] == [FIXTURE]
    assert config.schema.models == "catalog_api.models:Base"
    assert set(config.identities) == {"jwt-expired", "jwt-refresh", "jwt-foreign"}


def test_the_manifest_starts_every_route_on_legacy_and_has_cases_for_the_ported_ones() -> None:
    manifest = load_manifest(PROJECT / "routes.toml")
    assert {route.mode for route in manifest.routes} == {"legacy"}
    routes = {route.id: route for route in manifest.routes}
    for route_id, methods in PORTED.items():
        assert set(routes[route_id].methods) == methods
        assert (PROJECT / "parity" / "cases" / f"{route_id}.toml").exists()


def _fixture_usernames() -> set[str]:
    return {
        row["fields"]["username"] for row in json.loads(FIXTURE.read_text()) if row["model"] == "auth.user"
    }


def _route_matches(route, path: str) -> bool:
    if route.match == "exact":
        return path == route.path or path == route.path.rstrip("/")
    if route.match == "prefix":
        return path.startswith(route.path)
    return re.search(route.path, path) is not None


@pytest.mark.parametrize(
    "case_file", sorted((PROJECT / "parity" / "cases").glob("*.toml")), ids=lambda p: p.stem
)
def test_parity_cases_are_written_as_the_docs_describe(case_file: Path) -> None:
    config = load_config(explicit=CONFIG)
    routes = {route.id: route for route in load_manifest(PROJECT / "routes.toml").routes}
    document = tomllib.loads(case_file.read_text())
    route = routes[document["route"]]
    assert route.id == case_file.stem
    defaults = document.get("defaults", {})
    schemes = set(BUILTIN_SCHEMES) | set(config.identities)
    users = _fixture_usernames()
    ids = [case["id"] for case in document["cases"]]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", i) for i in ids)
    for raw in document["cases"]:
        case = {**defaults, **raw}
        assert set(case) <= CASE_KEYS, case["id"]
        assert sum(key in case for key in ("body", "form", "raw")) <= 1, case["id"]
        assert ("content_type" in case) == ("raw" in case), case["id"]
        method = case.get("method", "GET")
        assert method in route.methods, f"{case['id']}: {method} is not on route {route.id}"
        assert _route_matches(route, case["path"]), f"{case['id']}: {case['path']} is not on route {route.id}"
        if case["auth"] != "anonymous":
            scheme, _, user = case["auth"].partition(":")
            assert scheme in schemes and user in users, case["id"]


def test_the_parity_schemes_mint_the_tokens_they_say(catalog: Catalog) -> None:
    """Each scheme of [identities.schemes], called as the toolkit calls it (Django set up, the fixture
    user), gives a token simplejwt refuses for the reason it is named after, on both apps alike."""
    code = """
import json, django
django.setup()
from django.contrib.auth import get_user_model
from parity import schemes
alice = get_user_model().objects.get(username="alice")
print(json.dumps({name: getattr(schemes, name)(alice) for name in
                  ("expired_access_token", "refresh_token", "foreign_token")}))
"""
    minted = json.loads(
        venv_python(catalog.bin, code, {**catalog.env, "DJANGO_SETTINGS_MODULE": "catalog_site.settings"})
    )
    assert set(load_config(explicit=CONFIG).identities.values()) == {
        f"parity.schemes:{name}" for name in minted
    }
    reasons = {
        "expired_access_token": "Token is expired",
        "refresh_token": "Token has wrong type",
        "foreign_token": "Token is invalid",
    }
    for name, credential in minted.items():
        answers = [
            httpx.get(base + "/api/products/1/", headers={"Host": FRONT_DOOR, **credential["headers"]})
            for base in (catalog.legacy.url, catalog.modern.url)
        ]
        assert [a.status_code for a in answers] == [401, 401]
        assert answers[0].content == answers[1].content
        assert answers[0].json()["messages"][0]["message"] == reasons[name]
