"""The catalog's parity case files (examples/catalog/parity/cases), run now over real HTTP.

``cutover parity`` will run them through the toolkit's engine once its ``jwt:`` identities land; until
then this runs each case as docs/parity.md describes it (path, method, query, headers, body or raw
body, ``auth = "SCHEME:USER"``) against both servers, and compares the answers and the rows written
the way ``test_catalog_http_parity`` does. A case file that could not pass is found here first.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from .catalog_env import FIXTURE, PROJECT
from .conftest import Catalog
from .http_parity import Request, differences
from .test_catalog_http_parity import new_rows

CASE_FILES = sorted((PROJECT / "parity" / "cases").glob("*.toml"))
USER_IDS = {
    row["fields"]["username"]: row["pk"]
    for row in json.loads(FIXTURE.read_text())
    if row["model"] == "auth.user"
}
SAFE = ("GET", "HEAD", "OPTIONS")


def _cases() -> Iterator[Any]:
    for path in CASE_FILES:
        document = tomllib.loads(path.read_text())
        for case in document["cases"]:
            merged = {**document.get("defaults", {}), **case}
            yield pytest.param(merged, id=f"{document['route']}/{case['id']}")


@pytest.fixture(scope="module")
def own_schemes(catalog: Catalog) -> dict[tuple[str, str], dict[str, str]]:
    """The headers each [identities.schemes] scheme gives each fixture user, minted as the toolkit will."""
    from cutover.config import load_config

    config = load_config(explicit=PROJECT / "cutover.toml")
    code = f"""
import importlib, json, django
django.setup()
from django.contrib.auth import get_user_model
users = get_user_model().objects.all()
out = {{}}
for name, target in {dict(config.identities)!r}.items():
    module, _, function = target.partition(":")
    mint = getattr(importlib.import_module(module), function)
    for user in users:
        out[name + ":" + user.username] = mint(user)["headers"]
print(json.dumps(out))
"""
    done = subprocess.run(
        [str(catalog.bin / "python"), "-c", code],
        cwd=PROJECT,
        env={**catalog.env, "DJANGO_SETTINGS_MODULE": "catalog_site.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {tuple(key.split(":", 1)): headers for key, headers in json.loads(done.stdout).items()}


def build(
    case: dict[str, Any], catalog: Catalog, own_schemes: dict[tuple[str, str], dict[str, str]]
) -> Request:
    headers = dict(case.get("headers", {}))
    scheme, _, user = case.get("auth", "anonymous").partition(":")
    if scheme == "jwt":
        # What simplejwt's AccessToken.for_user(user) holds, signed with the apps' key.
        headers.update(catalog.forged(user_id=str(USER_IDS[user])))
    elif scheme != "anonymous":
        headers.update(own_schemes[(scheme, user)])
    path = case["path"]
    if "query" in case:
        path += "?" + urlencode(case["query"], doseq=True)
    method = case.get("method", "GET")
    if "raw" in case:
        headers["Content-Type"] = case["content_type"]
        return Request(method, path, headers, body=case["raw"].encode())
    if "body" in case:
        return Request(method, path, headers, json=case["body"])
    return Request(method, path, headers)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.mark.parametrize("case", list(_cases()))
def test_case_file_case_matches(
    case: dict[str, Any],
    catalog: Catalog,
    own_schemes: dict[tuple[str, str], dict[str, str]],
    client: httpx.Client,
) -> None:
    request = build(case, catalog, own_schemes)
    writes = request.method not in SAFE
    if writes:
        catalog.reset()
    legacy = request.send(client, catalog.legacy.url)
    legacy_rows = new_rows(catalog) if writes else None
    if writes:
        catalog.reset()
    modern = request.send(client, catalog.modern.url)
    modern_rows = new_rows(catalog) if writes else None
    if writes:
        catalog.reset()
    found = differences(legacy, modern)
    assert not found, f"{case['id']}: {request.method} {request.path}\n" + "\n".join(found)
    assert legacy_rows == modern_rows
