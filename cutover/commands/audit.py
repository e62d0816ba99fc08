"""``cutover audit``: the moves recorded in the audit log, newest first (the dashboard shows the same)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..audit import read_entries
from ..errors import reports_errors
from .routes import AuditOpt, audit_url


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_cmd)


def audit_cmd(
    ctx: typer.Context,
    route: Annotated[str | None, typer.Option(help="Only this route's moves.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many entries, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    audit: AuditOpt = None,
) -> None:
    """Show who moved which route when, from what to what, and what the gate said."""

    @reports_errors
    def run() -> None:
        entries = read_entries(audit_url(ctx, audit), route=route, limit=limit)
        if as_json:
            typer.echo(json.dumps([e.__dict__ for e in entries], indent=2))
            return
        if not entries:
            typer.echo("no moves recorded" + (f" for {route!r}" if route else ""))
        for entry in entries:
            typer.echo(entry.line())

    run()


__all__ = ["register"]
