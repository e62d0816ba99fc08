"""One module per command group of the ``cutover`` CLI."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from ..config import ProjectConfig, load_config


def project_config(ctx: typer.Context) -> ProjectConfig:
    """The project config for this invocation (``cutover --config PATH``, else found as documented)."""
    options = ctx.find_root().obj or {}
    explicit: Path | None = options.get("config")
    return load_config(explicit=explicit)


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` with no cell cut short to ``…``. Off a terminal (a CI log, a pipe: 80 columns to
    rich) it is as wide as its cells, each line whole, so that two ids with a common prefix stay two and
    grep finds them; on a terminal it fits the window, its columns made with ``overflow="fold"``."""
    if not console.is_terminal:
        table.width = Measurement.get(console, console.options.update_width(_UNBOUNDED), table).maximum
    console.print(table)


_UNBOUNDED = 1_000_000
