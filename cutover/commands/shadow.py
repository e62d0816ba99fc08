"""``cutover shadow report`` / ``serve``: shadow traffic, live safe requests mirrored by the front door and
compared between the legacy (twice: primary, secondary) and the port (candidate).

``report`` reads the results store ([shadow] database, else [shadow] store; or ``--store``) and prints, per
route, what was compared and which field paths differ beyond the noise the legacy shows against itself.
Exit status of ``report``: 0 no reported difference (an empty store included), 1 a route has reported
differences, 2 a usage or setup error (a bad --since, an unknown route, a missing or unreachable store).
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console

from ..errors import reports_errors
from ..exit_codes import ExitCode
from ..shadow.report import as_json, parse_duration, read_summaries, render, store_url, thresholds_of
from ..shadow.serve import comparator, serve
from . import project_config

app = typer.Typer(
    help="Shadow traffic: live requests mirrored to a comparator, the legacy's answers against the port's.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console(highlight=False, soft_wrap=True)  # a line is never wrapped: grep finds it

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="CUTOVER_SHADOW_STORE",
        help="The results store: a SQLAlchemy URL or a SQLite file; default: [shadow] database, else "
        "[shadow] store.",
    ),
]


@app.command("report")
def report(
    ctx: typer.Context,
    route: Annotated[str | None, typer.Option(help="Only this route.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only the last 90s, 30m, 1h, 2d, ... (to the minute); default: all.")
    ] = None,
    store: StoreOpt = None,
    machine: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """What the shadow comparisons found, per route; exit 1 where a field differs beyond noise.

    Per route: copies mirrored, compared, matched, different, noise (with the noisy field paths), errors
    and dropped; then the field paths that differ beyond noise by [shadow] absolute_threshold and
    relative_threshold, most often first, with up to 3 example requests each.
    """

    @reports_errors
    def run() -> None:
        window = parse_duration(since) if since is not None else None
        shadow = project_config(ctx).shadow
        url = store_url(store, shadow)
        start = None if window is None else time.time() - window
        summaries = read_summaries(url, route=route, since=start, thresholds=thresholds_of(shadow))
        if machine:
            typer.echo(json.dumps(as_json(summaries, url=url, since=start), indent=2))
        elif not summaries:
            scope = f" for {route}" if route else ""
            period = f" in the last {since.strip()}" if since else ""
            console.print(f"no shadow comparisons recorded{scope}{period}", markup=False)
        else:
            for line in render(summaries):
                console.print(line, markup=False, soft_wrap=True)
        if any(s.has_differences for s in summaries):
            raise typer.Exit(ExitCode.FAILED)

    run()


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    legacy: Annotated[str, typer.Option(help="The legacy's base URL (primary and secondary).")],
    modern: Annotated[str, typer.Option(help="The port's base URL (candidate).")],
    host: Annotated[str, typer.Option(help="A loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="CUTOVER_SHADOW_PORT", help="Where the front door sends copies.")
    ] = 8003,
    store: StoreOpt = None,
) -> None:
    """The comparator: answers each copy from the front door at once, then compares it in the background.

    Each safe request copied (GET, HEAD, OPTIONS; anything else is refused) is sent to the legacy, the
    port and the legacy again with the client's headers, compared by the parity engine with the project's
    parity rules, and recorded in the store. `cutover up` starts it when a route of the manifest shadows.
    """

    @reports_errors
    def run() -> None:
        project = project_config(ctx)
        url = store_url(store, project.shadow)
        app_ = comparator(project, legacy=legacy, modern=modern, store=url)
        serve(app_, host=host, port=port)

    run()
