"""`cutover promote`'s mistakes are one line and a non-zero exit, before anything moves; durations and steps
as the options spell them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cutover.cli import app
from cutover.commands.promote import parse_interval, parse_steps
from cutover.errors import CutoverError
from tests.cutover.proxy.test_manifest import demo_text
from tests.cutover.proxy.test_routes_cli import one_error_line

runner = CliRunner()


@pytest.mark.parametrize(("text", "seconds"), [("60", 60.0), ("60s", 60.0), ("2m", 120.0), ("500ms", 0.5),
                                               ("1.5s", 1.5), ("1h", 3600.0)])  # fmt: skip
def test_intervals(text: str, seconds: float):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "0s", "-5s", "5 minutes", "10d"])
def test_bad_intervals(text: str):
    with pytest.raises(CutoverError, match="--interval must be a positive duration"):
        parse_interval(text)


def test_steps():
    assert parse_steps("5,25,50,100") == (5, 25, 50, 100)
    assert parse_steps("100") == (100,)
    for text in ("", "5,,50", "50,25", "5,5,50", "0,50", "50,101", "five"):
        with pytest.raises(CutoverError, match="--steps must be ascending percentages in 1..100"):
            parse_steps(text)


def promote(tmp_path: Path, *args: str):
    manifest = tmp_path / "routes.toml"
    manifest.write_text(demo_text())
    config = tmp_path / "cutover.toml"
    config.write_text("[promote]\nsteps = [5, 50, 100]\n")
    where = ["--manifest", str(manifest), "--proxy-dir", str(tmp_path / "nginx")]
    result = runner.invoke(app, ["--config", str(config), "promote", *args, *where])
    assert manifest.read_text() == demo_text()
    return result


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nope"], "no route with id 'nope'"),
        (
            ["users", "--interval", "soon"],
            "--interval must be a positive duration such as 60s, 2m or 500ms (got 'soon')",
        ),
        (
            ["users", "--steps", "50,25"],
            "--steps must be ascending percentages in 1..100, such as 5,25,50,100 (got '50,25')",
        ),
        (["users", "--steps", "5,150"], "(got '5,150')"),
        (["users"], "nginx: not running: a promotion judges the traffic through the front door"),
        (["users", "--dry-run"], "nginx: not running"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str):
    result = promote(tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert expected in one_error_line(result)


def test_progress_is_a_live_line_on_a_terminal_and_plain_lines_otherwise():
    import io

    from rich.console import Console

    from cutover.commands.promote import _Progress

    plain = io.StringIO()
    progress = _Progress(Console(file=plain, width=40))
    progress.status("measuring users at canary 5%: 59 s left")
    progress.line("canary 5% window 1: legacy 2841 req, 5xx 0.0%, p99 41 ms; modern 152 req: healthy")
    progress.close()
    assert (
        plain.getvalue()
        == "canary 5% window 1: legacy 2841 req, 5xx 0.0%, p99 41 ms; modern 152 req: healthy\n"
    )
    terminal = io.StringIO()
    progress = _Progress(Console(file=terminal, force_terminal=True, width=100))
    progress.status("measuring users at canary 5%: 59 s left")
    progress.status("measuring users at canary 5%: 58 s left")
    progress.line("step 2/4: users canary 5% -> canary 25%")
    progress.close()
    assert "step 2/4" in terminal.getvalue() and "measuring users" in terminal.getvalue()
