"""``cutover routes --check``: Django's URLs, the modern app's routes and the manifest side by side, and
``cutover move`` refusing to send a route to a modern app that does not serve it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.proxy.manifest import set_route_mode

REPO = Path(__file__).parents[3]
DEMO_MANIFEST = REPO / "migration_notes" / "routes.toml"


def project(tmp_path: Path, modern: str, manifest_text: str) -> Path:
    (tmp_path / "routes.toml").write_text(manifest_text)
    config = tmp_path / "cutover.toml"
    config.write_text(
        f'[legacy]\nsettings = "legacy_django.settings"\n\n[modern]\nasgi = "{modern}"\n\n'
        '[proxy]\nmanifest = "routes.toml"\n'
    )
    return config


def check(config: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["--config", str(config), "routes", "--check", "--json"])
    return result.exit_code, json.loads(result.output)


def findings(data: dict) -> set[tuple[str, str, str]]:
    return {(f["level"], f["kind"], f["subject"]) for f in data["findings"]}


def test_the_demo_has_no_error_and_says_what_falls_to_default():
    result = CliRunner().invoke(app, ["routes", "--check"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert (
        "warning  uncovered   /api/schema/: api/schema/: no route takes it; it falls to [default]"
        in result.output
    )
    assert "0 error(s), 1 warning(s)" in result.output


def test_a_route_on_modern_that_the_port_does_not_serve_is_an_error(tmp_path):
    text = set_route_mode(DEMO_MANIFEST.read_text(), "user-detail", "modern", source="routes.toml")
    text = set_route_mode(text, "users", "canary", 10, source="routes.toml")
    config = project(tmp_path, "tests.cutover.proxy.partial_port:app", text)
    code, data = check(config)
    assert code == 1
    found = findings(data)
    assert ("error", "not-served", "user-detail") in found
    assert not any(kind == "not-served" and subject == "users" for _, kind, subject in found)  # it serves it
    message = next(f["message"] for f in data["findings"] if f["subject"] == "user-detail")
    assert message.startswith("on modern, but the modern app serves no ") and "/api/users/1/" in message
    assert ("warning", "no-traffic", "/api/extra/{item_id}/") in found
    assert data["findings"][0]["level"] == "error"  # errors first


def test_a_manifest_route_no_django_url_has_is_stale(tmp_path):
    extra = '\n[[routes]]\nid = "orders"\nmatch = "exact"\npath = "/api/orders/"\nmode = "legacy"\n'
    config = project(tmp_path, "fastapi_app.main:app", DEMO_MANIFEST.read_text() + extra)
    code, data = check(config)
    assert code == 0
    assert ("warning", "stale", "orders") in findings(data)
    assert not any(kind == "stale" and subject in ("admin", "static") for _, kind, subject in findings(data))


@pytest.mark.parametrize("to", [["--to", "modern"], ["--to", "canary", "--percent", "5"]])
def test_move_refuses_a_route_the_port_does_not_serve(tmp_path, to):
    config = project(tmp_path, "tests.cutover.proxy.partial_port:app", DEMO_MANIFEST.read_text())
    before = (tmp_path / "routes.toml").read_text()
    result = CliRunner().invoke(
        app, ["--config", str(config), "move", "user-detail", *to, "--proxy-dir", str(tmp_path / "nginx")],
        env={"COLUMNS": "300"},
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()
    assert len(line) == 1 and line[0].startswith(
        f"cutover: error: refusing to move 'user-detail' to {to[1]}: the modern app serves no GET /api/users/1/"
    )
    assert (tmp_path / "routes.toml").read_text() == before


def test_move_to_a_port_that_serves_the_route_meets_the_parity_gate_instead(tmp_path):
    config = project(tmp_path, "fastapi_app.main:app", DEMO_MANIFEST.read_text())
    result = CliRunner().invoke(
        app, ["--config", str(config), "move", "user-detail", "--to", "modern", "--proxy-dir", str(tmp_path / "n"),
              "--report", str(tmp_path / "none.json")],
        env={"COLUMNS": "300"},
    )  # fmt: skip
    assert result.exit_code == 1
    assert "serves no" not in result.output and "parity" in result.output
