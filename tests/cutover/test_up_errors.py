"""`cutover up` answers a user's mistake with one clear line and a non-zero exit."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from cutover.cli import app


def test_invalid_database_url_is_one_line(tmp_path):
    result = CliRunner().invoke(
        app, ["up", "--database-url", "mysql://u@h/db", "--data-dir", str(tmp_path / "pg")]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "cutover: error: DATABASE_URL must be a postgresql:// URL, got scheme 'mysql'"
    ]


def test_unreachable_database_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["up", "--database-url", "postgresql://nobody@127.0.0.1:9/none"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "cutover: error: cannot connect to the database at postgresql://nobody@127.0.0.1:9/none: connection failed"
    )


def test_port_in_use_is_one_line(tmp_path):
    import os

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app,
            ["up", "--legacy-port", str(port), "--no-seed", "--database-url", os.environ["DATABASE_URL"]],
        )
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.output


def test_a_missing_config_file_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "nope.toml"), "up"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"cutover: error: config file {tmp_path / 'nope.toml'} does not exist"
    ]


def test_a_config_without_a_port_to_start_is_one_line(tmp_path, monkeypatch):
    import os
    from pathlib import Path

    # The config sits in a scratch folder and names the demo's settings, importable from this checkout.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[2]))
    config = tmp_path / "cutover.toml"
    config.write_text('[legacy]\nsettings = "legacy_django.settings"\n')
    result = CliRunner().invoke(
        app,
        ["--config", str(config), "up", "--database-url", os.environ["DATABASE_URL"], "--legacy-port", "0"],
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"cutover: error: no FastAPI app to start: set [modern] asgi (module:app) in {config}"
    ]
