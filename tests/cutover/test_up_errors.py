"""`cutover up` answers a user's mistake with one clear line and a non-zero exit."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from cutover.cli import app


def test_invalid_database_url_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["up", "--database-url", "mysql://u@h/db", "--data-dir", str(tmp_path / "pg")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "cutover: error: DATABASE_URL must be a postgresql:// URL, got scheme 'mysql'"
    ]


def test_unreachable_database_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["up", "--database-url", "postgresql://nobody@127.0.0.1:9/none"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cutover: error: `django-admin migrate --noinput` failed:")


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
