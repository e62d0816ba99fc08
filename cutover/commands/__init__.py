"""One module per command group of the ``cutover`` CLI."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import ProjectConfig, load_config


def project_config(ctx: typer.Context) -> ProjectConfig:
    """The project config for this invocation (``cutover --config PATH``, else found as documented)."""
    options = ctx.find_root().obj or {}
    explicit: Path | None = options.get("config")
    return load_config(explicit=explicit)
