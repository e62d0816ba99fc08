"""The routing commands take the manifest and the nginx prefix from the project config, not the demo's layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cutover.cli import app

DEMO_MANIFEST = Path(__file__).parents[2] / "migration_notes" / "routes.toml"


def project(tmp_path: Path) -> Path:
    (tmp_path / "deploy").mkdir()
    shutil.copy(DEMO_MANIFEST, tmp_path / "deploy" / "routes.toml")
    config = tmp_path / "cutover.toml"
    config.write_text('[proxy]\nmanifest = "deploy/routes.toml"\n')
    return config


def test_routes_reads_the_configs_manifest(tmp_path: Path):
    config = project(tmp_path)
    result = CliRunner().invoke(app, ["--config", str(config), "routes", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["manifest"] == str(tmp_path / "deploy" / "routes.toml")


def test_move_and_rollback_edit_the_configs_manifest_and_install_under_the_project_root(tmp_path: Path):
    config = project(tmp_path)
    demo_before = DEMO_MANIFEST.read_text()
    runner = CliRunner()
    moved = runner.invoke(app, ["--config", str(config), "move", "users-me", "--to", "modern", "--force"])
    assert moved.exit_code == 0, moved.output
    text = (tmp_path / "deploy" / "routes.toml").read_text()
    assert text.count('mode = "modern"') == 1
    assert (tmp_path / ".data" / "nginx" / "nginx.conf").is_file()
    back = runner.invoke(app, ["--config", str(config), "rollback", "users-me"])
    assert back.exit_code == 0, back.output
    assert 'mode = "modern"' not in (tmp_path / "deploy" / "routes.toml").read_text()
    assert DEMO_MANIFEST.read_text() == demo_before  # the demo's own file was never touched


@pytest.mark.parametrize(
    "argv, named",
    [
        (["move", "--help"], "[proxy] manifest"),
        (["move", "--help"], "[parity] report"),
        (["parity", "--help"], "[modern] asgi"),
        (["schema", "check", "--help"], "[schema] models"),
        (["up", "--help"], "[database] seed"),
    ],
)
def test_help_names_the_config_keys_its_defaults_come_from(argv, named):
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert named in " ".join(result.output.split())
