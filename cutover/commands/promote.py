"""``cutover promote ROUTE``: a guarded canary, stepped up while each window's figures stay healthy
(docs/promote.md); the loop is :mod:`cutover.promote.run`."""

from __future__ import annotations

import re
from contextlib import nullcontext
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..audit import current_user
from ..errors import CutoverError, err_console, reports_errors
from ..metrics.access_log import LogFollower
from ..promote.lock import promotion_lock
from ..promote.run import LiveRouter, Promotion, live_readings
from ..proxy.doors import kind_of, status
from ..proxy.manifest import load_manifest
from ..proxy.moves import Actor
from ..runner import install_stop_signals
from . import project_config
from .routes import AuditOpt, ManifestOpt, ProxyDirOpt, RepoOpt, ReportOpt, _places, _repo, _report, audit_url

console = Console(highlight=False, soft_wrap=True)  # a window's figures are one line, not wrapped

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_interval(text: str) -> float:
    """``60``, ``60s``, ``2m``, ``500ms`` in seconds."""
    found = _DURATION.fullmatch(text.strip())
    seconds = float(found[1]) * _UNITS[found[2] or "s"] if found else 0.0
    if seconds <= 0:
        raise CutoverError(f"--interval must be a positive duration such as 60s, 2m or 500ms (got {text!r})")
    return seconds


def parse_steps(text: str) -> tuple[int, ...]:
    """``5,25,50,100``: ascending percentages in 1..100."""
    try:
        steps = tuple(int(part) for part in text.split(","))
    except ValueError:
        steps = ()
    if not steps or any(not 1 <= s <= 100 for s in steps) or list(steps) != sorted(set(steps)):
        raise CutoverError(
            f"--steps must be ascending percentages in 1..100, such as 5,25,50,100 (got {text!r})"
        )
    return steps


class _Progress:
    """One line per move and per window check; on a terminal, a live line while a window is measured."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self._status: Any = None

    def line(self, text: str) -> None:
        self.out.print(text, markup=False, highlight=False, soft_wrap=True)  # one line, whatever the width

    def status(self, text: str) -> None:
        if not self.out.is_terminal:
            return
        text = escape(text)  # a route's own text, never markup
        if self._status is None:
            self._status = self.out.status(text)
            self._status.start()
        else:
            self._status.update(text)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def register(app: typer.Typer) -> None:
    app.command("promote")(promote_cmd)


def promote_cmd(
    ctx: typer.Context,
    route: Annotated[str, typer.Argument(help="Route id from the manifest.")],
    steps: Annotated[
        str | None,
        typer.Option(help="Canary percentages, ascending; 100 moves to modern. Default: [promote] steps."),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            help="Traffic measured before each step: 60, 60s, 2m, 500ms. Default: [promote] interval."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Watch one window (--interval of traffic from now on), say what would happen; move nothing.",
        ),
    ] = False,
    manifest: ManifestOpt = None,
    proxy_dir: ProxyDirOpt = None,
    report: ReportOpt = None,
    repo: RepoOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Step a route's canary up (--steps 5,25,50,100), judging modern against legacy on the route before each
    step; roll back to legacy at once on a breach (exit 1). Exit 3: too little traffic to judge."""

    @reports_errors
    def run() -> int:
        project = project_config(ctx)
        config = project.promote
        chosen = parse_steps(steps) if steps is not None else config.steps
        seconds = parse_interval(interval) if interval is not None else config.interval
        manifest_path, door = _places(ctx, manifest, proxy_dir)
        load_manifest(manifest_path).route(route)  # an unknown route: one line, before anything else
        if not door.running():
            raise CutoverError(
                f"{status(door)}: a promotion judges the traffic through the front door; start it with "
                "`cutover up`"
            )
        report_path, work_tree = _report(ctx, report), _repo(ctx, repo)
        actor = Actor(current_user(), "promote")
        router = LiveRouter(
            route, manifest_path, door, actor, audit_url(ctx, audit), project, report_path, work_tree
        )
        progress = _Progress(console)
        lock = nullcontext() if dry_run else promotion_lock(door.prefix, route)  # a dry run moves nothing
        with lock, LogFollower(door.access_log, kind_of(door)) as log:
            promotion = Promotion(
                route, steps=chosen, interval=seconds, config=config, router=router, log=log,
                readings=live_readings(project, report_path, work_tree), progress=progress, dry_run=dry_run,
            )  # fmt: skip
            try:
                with install_stop_signals():  # Ctrl-C and SIGTERM: left at the last completed step
                    result = promotion.run()
            finally:
                progress.close()
        if result.code == 0:
            console.print(result.message, markup=False)
        else:
            err_console.print(f"cutover: {result.message}", markup=False)
        return int(result.code)

    code = run()
    if code:
        raise typer.Exit(code)


__all__ = ["parse_interval", "parse_steps", "register"]
