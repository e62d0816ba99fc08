"""``cutover init`` on the catalog example, in its own Django 4.2 virtualenv, on a copy of it without its
config, manifest and cases: what it writes is a valid front door for every URL Django knows, running it
again changes nothing, and ``cutover parity`` runs on what it wrote at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .catalog_env import PROJECT, ensure_toolkit_venv
from .test_catalog_cutover import cutover


@pytest.fixture(scope="module")
def toolkit_bin() -> Path:
    return ensure_toolkit_venv()


@pytest.fixture
def fresh_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "catalog"
    shutil.copytree(
        PROJECT,
        copy,
        ignore=shutil.ignore_patterns("cutover.toml", "routes.toml", "parity", "__pycache__", ".data"),
    )
    return copy


def test_init_writes_a_front_door_for_every_url_and_parity_runs_on_it(toolkit_bin: Path, fresh_copy: Path):
    first = cutover(toolkit_bin, "init", "--modern", "catalog_api.main:app", cwd=fresh_copy)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "wrote cutover.toml" in first.stdout and "wrote routes.toml" in first.stdout
    config = (fresh_copy / "cutover.toml").read_text()
    assert (
        'settings = "catalog_site.settings"' in config
        and "identities your DRF authentication takes: jwt" in config
    )

    routes = cutover(toolkit_bin, "routes", "--json", cwd=fresh_copy)
    assert routes.returncode == 0, routes.stderr
    by_id = {r["id"]: r for r in json.loads(routes.stdout)["routes"]}
    assert by_id["admin"]["pinned"] and by_id["token-obtain-pair"]["path"] == "/api/token/"
    assert by_id["product-detail"]["match"] == "pattern"
    assert by_id["product-detail"]["path"] == "^/api/products/([0-9]+)/$"  # <int:pk>, as the router writes it
    assert by_id["category-detail"]["path"] == "^/api/categories/([-a-zA-Z0-9_]+)/$"  # <slug:slug>

    rendered = cutover(
        toolkit_bin, "render", "--proxy-dir", str(fresh_copy / ".data" / "nginx"), cwd=fresh_copy
    )
    assert rendered.returncode == 0, rendered.stderr  # checked with nginx -t

    inventory = cutover(toolkit_bin, "routes", "--check", "--json", cwd=fresh_copy)
    assert inventory.returncode == 0, inventory.stdout + inventory.stderr
    found = json.loads(inventory.stdout)["findings"]
    assert [f for f in found if f["kind"] in ("uncovered", "not-served", "stale")] == []  # every URL a route

    again = cutover(toolkit_bin, "init", cwd=fresh_copy)
    assert again.returncode == 0 and "cutover init: everything is up to date" in again.stdout, again.stdout

    run = cutover(toolkit_bin, "parity", "--generated", "0", "--no-report", cwd=fresh_copy)
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]  # red is a result, not a crash
    rows = {line.split("│")[1].strip() for line in run.stdout.splitlines() if line.count("│") > 5}
    assert {"product-detail", "product-list", "category-detail"} <= rows
