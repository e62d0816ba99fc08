"""``cutover up`` starts the FastAPI port beside Django (cutover/stack.py, cutover/commands/up.py)."""

from __future__ import annotations

from typer.testing import CliRunner

from cutover.commands.up import _banner
from cutover.stack import StackConfig, modern_service


def test_modern_service_is_uvicorn_on_loopback_with_uvloop_and_the_ports_httptools_protocol():
    # The port's protocol takes the methods gunicorn takes (fastapi_app/protocol.py); without uvicorn's
    # proxy headers the port judges the forwarded headers itself, as gunicorn does (fastapi_app/environ.py).
    service = modern_service(
        StackConfig(modern_port=8102, modern_workers=3), {"DATABASE_URL": "postgresql://x/y"}
    )
    argv = list(service.argv)
    assert argv[1:4] == ["-m", "uvicorn", "fastapi_app.main:app"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--port") + 1] == "8102"
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--loop") + 1] == "uvloop"
    # The demo's config ([tool.cutover.modern] args) comes last, so its --http is the one uvicorn takes.
    last_http = len(argv) - 1 - argv[::-1].index("--http")
    assert argv[last_http + 1] == "fastapi_app.protocol:LegacyHttpToolsProtocol"
    assert "--no-proxy-headers" in argv
    assert service.url == "http://127.0.0.1:8102/api/users/"
    assert service.env["DATABASE_URL"] == "postgresql://x/y"


def test_banner_prints_both_apps(capsys):
    _banner(StackConfig(), "postgresql://app@/app")
    out = capsys.readouterr().out
    assert "legacy (Django)   http://127.0.0.1:8001/api/users/" in out
    assert "modern (FastAPI)  http://127.0.0.1:8002/api/users/" in out
    assert "demo credentials  demo / demo-password-123" in out  # the demo's [tool.cutover.up] notes


def test_up_accepts_modern_port_option():
    from cutover.cli import app

    result = CliRunner().invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert (
        result.exit_code == 0 and "--modern-port" in result.output and "CUTOVER_MODERN_PORT" in result.output
    )
