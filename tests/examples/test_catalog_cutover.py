"""The toolkit on the catalog example, installed into the example's own virtualenv (Django 4.2) from
this repository, used only through the example's cutover.toml: ``cutover up`` (the front door answers,
a move and a rollback take effect) and ``cutover schema check`` on a throwaway database that the
example's own migrations built.

``cutover parity`` with ``jwt:`` identities is not here yet: its engine is being made generic (issue 12);
test_catalog_case_files.py runs the same case files over HTTP meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cutover.dburl import DatabaseURL

from .catalog_env import (
    FIXTURE,
    PROJECT,
    ensure_toolkit_venv,
    free_port,
    manage,
    project_env,
    scratch_database,
)
from .conftest import PASSWORD


@pytest.fixture(scope="module")
def toolkit_bin() -> Path:
    return ensure_toolkit_venv()


def _cutover_env(toolkit_bin: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CUTOVER_CONFIG", "VIRTUAL_ENV")}
    env = {k: v for k, v in env.items() if not k.startswith(("DJANGO_", "PYTHON"))}
    env.update(PATH=f"{toolkit_bin}{os.pathsep}{env.get('PATH', '')}", COLUMNS="300", **extra)
    return env


def cutover(
    toolkit_bin: Path, *args: str, cwd: Path = PROJECT, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(toolkit_bin / "cutover"), *args],
        cwd=cwd,
        env=_cutover_env(toolkit_bin, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextlib.contextmanager
def stack(
    toolkit_bin: Path, database: DatabaseURL, manifest: Path, proxy_dir: Path, log: Path
) -> Iterator[str]:
    """``cutover up`` in the project's folder on ``database``; yields the front door's URL, then SIGTERM."""
    ports = {name: str(free_port()) for name in ("proxy", "legacy", "modern", "metrics", "dashboard")}
    argv = [str(toolkit_bin / "cutover"), "up", "--database-url", database.libpq(), "--manifest", str(manifest),
            "--proxy-dir", str(proxy_dir), "--proxy-port", ports["proxy"], "--legacy-port", ports["legacy"],
            "--modern-port", ports["modern"], "--metrics-port", ports["metrics"], "--dashboard-port", ports["dashboard"]]  # fmt: skip
    env = _cutover_env(toolkit_bin, SECRET_KEY=secrets.token_urlsafe(40))
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    front_door = f"http://127.0.0.1:{ports['proxy']}"
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops everything." not in log.read_text(errors="replace"):
            assert process.poll() is None, f"cutover up exited {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"cutover up did not come up:\n{log.read_text()}"
            time.sleep(0.2)
        yield front_door
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # cutover up stops every server it started, then itself
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _served(response: httpx.Response) -> tuple[int, str | None, str | None]:
    return (
        response.status_code,
        response.headers.get("x-cutover-route"),
        response.headers.get("x-cutover-backend"),
    )


def test_up_serves_the_catalog_and_moves_a_route(
    toolkit_bin: Path, test_server: DatabaseURL, tmp_path: Path
) -> None:
    manifest = tmp_path / "routes.toml"
    shutil.copy(PROJECT / "routes.toml", manifest)  # move and rollback edit it: never the committed one
    original = manifest.read_text()
    with scratch_database(test_server, "catalog_up") as database:
        # An explicit DATABASE_URL is the team's own: cutover up neither migrates nor seeds it.
        env = project_env(toolkit_bin, database, "unused")
        manage(toolkit_bin, env, "migrate", "--noinput", "-v", "0")
        manage(toolkit_bin, env, "loaddata", str(FIXTURE), "-v", "0")
        log = tmp_path / "up.log"
        with (
            stack(toolkit_bin, database, manifest, tmp_path / "nginx", log) as front_door,
            httpx.Client(base_url=front_door, timeout=30) as client,
        ):
            banner = [line for line in log.read_text().splitlines() if line.startswith("front door")]
            assert banner == [f"front door        {front_door}/  (nginx)"]
            assert "catalog credentials  alice / catalog-password-123" in log.read_text()

            before = client.get("/api/products/7/")
            assert _served(before) == (200, "product-detail", "legacy")

            moved = cutover(toolkit_bin, "move", "product-detail", "--to", "modern", "--force",
                            "--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"))  # fmt: skip
            assert moved.returncode == 0, moved.stdout + moved.stderr
            after = client.get("/api/products/7/")
            assert _served(after) == (200, "product-detail", "modern")
            assert after.content == before.content
            changed = [
                line for line in manifest.read_text().splitlines() if line not in original.splitlines()
            ]
            assert changed == ['mode = "modern"']

            # The other routes stay where they were: a write on the product list is still Django's.
            token = client.post("/api/token/", json={"username": "alice", "password": PASSWORD})
            assert _served(token) == (200, "token-obtain", "legacy")
            created = client.post(
                "/api/products/",
                json={"name": "Moka pot", "slug": "moka-pot", "price": "29.00", "category_slug": "kitchen"},
                headers={"Authorization": f"Bearer {token.json()['access']}"},
            )
            assert _served(created) == (201, "products", "legacy")
            assert (
                client.get(f"/api/products/{created.json()['id']}/").headers["x-cutover-backend"] == "modern"
            )

            rolled_back = cutover(toolkit_bin, "rollback", "product-detail",
                                  "--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx"))  # fmt: skip
            assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
            assert _served(client.get("/api/products/7/")) == (200, "product-detail", "legacy")
            assert manifest.read_text() == original
    assert re.search(r"^stopped$", log.read_text(), re.MULTILINE), log.read_text()


def test_schema_check_on_a_throwaway_database_the_catalog_migrated(toolkit_bin: Path) -> None:
    """No --database-url: the toolkit starts a throwaway server, the example's own migrations build it."""
    checked = cutover(toolkit_bin, "schema", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "schema: catalog_api.models:Base matches the database (5 mapped tables)" in checked.stdout


def test_parity_is_green_on_the_catalogs_port_with_jwt_identities(toolkit_bin: Path) -> None:
    """`cutover parity` in the catalog's own virtualenv, everything from its cutover.toml: its JSON fixture,
    its tables from Django's app registry, jwt: identities minted by simplejwt, its manifest's routes."""
    run = cutover(toolkit_bin, "parity", "--generated", "0", "--no-report")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "all 56 case(s) matched" in run.stdout
    # Its event loop watched meanwhile (on by default): the port blocks it nowhere.
    assert "blocked the event loop" not in run.stdout and "blocking call" not in run.stdout
    rows = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if line.count("│") > 5}
    assert {"product-detail", "products"} <= set(rows)
    assert "green" in rows["product-detail"] and "green" in rows["products"]


def test_parity_reports_a_broken_catalog_port_on_its_routes(toolkit_bin: Path) -> None:
    """The same run against the port with four deliberate regressions (broken_port.py): red, exit 1."""
    run = cutover(
        toolkit_bin, "parity", "--generated", "0", "--no-report", "--modern-app", "broken_port:app",
        PYTHONPATH=str(Path(__file__).parent),
    )  # fmt: skip
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    rows = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if line.count("│") > 5}
    for route in ("product-detail", "products"):
        cells = [cell.strip() for cell in rows[route].split("│")[1:-1]]
        assert cells[-1] == "red" and int(cells[3]) > 0, rows[route]  # mismatched cases on that route


def test_parity_reports_each_blocking_call_of_a_catalog_port_on_its_route(
    toolkit_bin: Path, tmp_path: Path
) -> None:
    """The port with async mistakes patched into its handlers (blocking_port.py): the answers still match,
    each mistake is reported on its route with its culprit and the catalog's frame, and the routes are
    not green."""
    report = tmp_path / "report.json"
    run = cutover(
        toolkit_bin, "parity", "--generated", "0", "--no-noise", "--report", str(report),
        "--modern-app", "blocking_port:app", PYTHONPATH=str(Path(__file__).parent),
    )  # fmt: skip
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "all 56 case(s) matched" in run.stdout
    data = json.loads(report.read_text())
    found: dict[str, list[dict[str, Any]]] = {}
    for route in ("products", "product-detail"):
        assert data["routes"][route]["status"] == "red" and data["routes"][route]["mismatched"] == 0
        for entry in data["routes"][route]["blocking"]:
            found.setdefault(entry["case"], []).append(entry)
    handlers = "catalog_api/routes/products.py:"

    def culprits(case: str) -> dict[str, dict[str, Any]]:
        return {e["function"]: e for e in found[case]}

    detail = culprits("product-detail/unicode-and-microseconds")
    sync = detail["psycopg.waiting.wait"]
    assert sync["via"] == ["sqlalchemy", "psycopg"]
    assert sync["frame"].startswith(handlers) and sync["frame"].endswith(" in retrieve_product")
    assert detail["time.sleep"]["held_ms"] >= 20
    assert detail["time.sleep"]["frame"].endswith(" in retrieve_product")

    listing = culprits("products/first-page")
    assert {"socket.socket.connect", "socket.socket.sendall"} <= set(listing), listing
    assert listing["socket.socket.connect"]["frame"].endswith(" in list_products")

    created = culprits("products/create")
    assert created["hashlib.pbkdf2_hmac"]["frame"].endswith(" in create_product")
    assert "socket.socket.connect" not in created  # each mistake on the cases that make it

    assert "products/first-page: GET /api/products/" in run.stdout
    assert "blocked the event loop: time.sleep held the loop" in run.stdout
    assert "case(s) made a blocking call on the modern app's event loop: not green" in run.stdout
