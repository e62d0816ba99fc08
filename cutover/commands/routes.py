"""``cutover render``, ``cutover routes``, ``cutover move`` and ``cutover rollback``: the routing manifest
put into service behind nginx, one route at a time."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..audit import current_user
from ..config import ProjectConfig
from ..errors import CutoverError, err_console, reports_errors
from ..exit_codes import ExitCode
from ..parity.verdict import verdict
from ..proxy import envoy
from ..proxy.apply import ProxyTarget, check_rendered, read_target, rendered
from ..proxy.doors import FrontDoor as Door
from ..proxy.doors import door_at, project_door, status
from ..proxy.gate import ParityResult
from ..proxy.inventory import project_inventory
from ..proxy.manifest import Route, load_manifest
from ..proxy.moves import Actor, describe, move
from . import print_table, project_config

console = Console(highlight=False, soft_wrap=True)  # a line is never wrapped: grep finds it


class FrontDoor(enum.StrEnum):
    nginx = "nginx"
    envoy = "envoy"


ManifestOpt = Annotated[
    Path | None,
    typer.Option(
        "--manifest",
        envvar="CUTOVER_MANIFEST",
        help="The routing manifest (TOML); default: [proxy] manifest.",
    ),
]
ProxyDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--proxy-dir",
        envvar="CUTOVER_PROXY_DIR",
        help="The front door's directory (config, logs): .data/envoy when an Envoy runs from there, "
        "else .data/nginx in the project root.",
    ),
]
RepoOpt = Annotated[
    Path | None,
    typer.Option(
        help="Git work tree whose revision the parity report must match; default: the project root."
    ),
]
AuditOpt = Annotated[
    str | None,
    typer.Option(
        "--audit",
        envvar="CUTOVER_AUDIT",
        help="The audit log every move is recorded in (sqlite:///PATH or postgresql://...); default: "
        "the config's [audit].",
    ),
]
ReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--report",
        envvar="CUTOVER_PARITY_REPORT",
        help="Parity report the gate reads; default: the config's [parity] report.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("render")(render_cmd)
    app.command("routes")(routes_cmd)
    app.command("move")(move_cmd)
    app.command("rollback")(rollback_cmd)


def render_cmd(
    ctx: typer.Context,
    manifest: ManifestOpt = None,
    listen: Annotated[
        str | None, typer.Option(help="host:port nginx listens on; default: the running stack's, else 8000.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    proxy_dir: ProxyDirOpt = None,
    front_door: Annotated[
        FrontDoor, typer.Option("--front-door", help="The proxy to render for.")
    ] = FrontDoor.nginx,
) -> None:
    """Render the manifest for the front door (nginx, checked with `nginx -t`; or Envoy, validated)."""

    @reports_errors
    def run() -> None:
        manifest_path, door = _places(ctx, manifest, proxy_dir)
        target = read_target(door)
        if listen is not None:
            target = ProxyTarget(listen=listen, servers=target.servers)
        if front_door is FrontDoor.envoy:
            text = envoy.render(target.apply_to(load_manifest(manifest_path)), listen=target.listen)
            envoy.check_rendered(text)
            checked = "envoy --mode validate: ok"
        else:
            text = rendered(load_manifest(manifest_path), target, prefix=door.prefix)
            check_rendered(text)
            checked = "nginx -t: ok"
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            err_console.print(f"wrote {output} ({checked})", markup=False)

    run()


def _report(ctx: typer.Context, report: Path | None) -> Path:
    return report if report is not None else project_config(ctx).parity.report


def _places(ctx: typer.Context, manifest: Path | None, proxy_dir: Path | None) -> tuple[Path, Door]:
    """The manifest and the front door: as given, else the project config's manifest and the front door
    running from its .data directory (doors.project_door)."""
    if manifest is not None and proxy_dir is not None:
        return manifest, door_at(proxy_dir)
    project = project_config(ctx)
    return (
        manifest if manifest is not None else project.proxy.manifest,
        door_at(proxy_dir) if proxy_dir is not None else project_door(project.root, project.proxy.front_door),
    )


def audit_url(ctx: typer.Context, audit: str | None) -> str:
    return audit if audit is not None else project_config(ctx).audit.url


def _repo(ctx: typer.Context, repo: Path | None) -> Path:
    return repo if repo is not None else project_config(ctx).root


def routes_cmd(
    ctx: typer.Context,
    manifest: ManifestOpt = None,
    report: ReportOpt = None,
    proxy_dir: ProxyDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    repo: RepoOpt = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="The inventory instead: Django's URLs, the modern app's routes and the manifest side by "
            "side; exit 1 when a route is on a backend that does not serve it.",
        ),
    ] = False,
) -> None:
    """Show every route: match, methods, mode, shadow share, backend addresses, and its latest parity
    result."""

    @reports_errors
    def run() -> None:
        manifest_path, door = _places(ctx, manifest, proxy_dir)
        if check:
            _inventory(project_config(ctx), manifest_path, as_json)
            return
        loaded = read_target(door).apply_to(load_manifest(manifest_path))
        work_tree = _repo(ctx, repo)
        rows = []
        gate: dict[str, str | None] = {}
        stale: set[str] = set()
        report_path = _report(ctx, report)
        for route in loaded.routes:
            found = verdict(report_path, route.id, repo=work_tree)
            gate[route.id] = None if found.green else found.reason
            if found.passed and not found.green:
                stale.add(route.id)
            rows.append((route, _addresses(route, loaded.backends), ParityResult.of(found)))
        if as_json:
            data = [
                {
                    "id": r.id,
                    "match": r.match,
                    "path": r.path,
                    "methods": list(r.methods),
                    "mode": r.mode,
                    "percent": r.modern_share,
                    "sticky": r.sticky if r.mode == "canary" else None,
                    "pinned": r.pinned,
                    # % of the route's GET, HEAD and OPTIONS requests copied to the shadow comparator
                    "shadow": r.shadow,
                    "servers": addresses,
                    "parity": {"status": p.status, "revision": p.revision, "dirty": p.dirty, "time": p.time,
                               "warnings": list(p.warnings)},  # fmt: skip
                    # may the route move toward modern now: None when it may, else why not
                    "gate": gate[r.id],
                }
                for r, addresses, p in rows
            ]
            document = {
                "manifest": str(manifest_path),
                "shadow_servers": list(loaded.shadow_servers),
                "routes": data,
            }
            typer.echo(json.dumps(document, indent=2))
            return
        # Every cell is the project's own text (a regex path reads `[a-z0-9]`): escaped, never markup.
        table = Table(title=escape(f"routes ({manifest_path})"), title_justify="left")
        for column in ("route", "match", "methods", "mode", "% modern", "shadow %", "backend", "parity"):
            table.add_column(column, no_wrap=column in ("route", "mode"), overflow="fold")
        for route, addresses, parity in rows:
            mode = route.mode + (" (pinned)" if route.pinned else "")
            if route.mode == "canary":
                mode += f" by {route.sticky}"
            cells = (
                route.id,
                f"{route.match} {route.path}",
                " ".join(route.methods),
                mode,
                str(route.modern_share),
                str(route.shadow),
                "\n".join(addresses),
                parity.short() + (" (not for this code)" if route.id in stale else ""),
            )
            table.add_row(*map(escape, cells))
        table.add_row(
            "default",
            "everything else",
            "*",
            "legacy",
            "0",
            "0",
            escape("\n".join(loaded.backends["legacy"].servers)),
            "",
        )
        print_table(console, table)
        if loaded.shadowed:
            # Copies go to the comparator only, never to a client; only safe methods are ever copied.
            servers = ", ".join(loaded.shadow_servers)
            console.print(
                f"shadow copies (GET, HEAD, OPTIONS) go to the comparator at {servers}", markup=False
            )
        console.print(status(door), markup=False)

    run()


def _inventory(project: ProjectConfig, manifest_path: Path, as_json: bool) -> None:
    findings, notes = project_inventory(project, load_manifest(manifest_path))
    errors = [f for f in findings if f.level == "error"]
    if as_json:
        typer.echo(json.dumps({"manifest": str(manifest_path), "findings": [f.as_dict() for f in findings],
                               "notes": notes}, indent=2))  # fmt: skip
    else:
        for finding in findings:
            console.print(
                f"{finding.level:7}  {finding.kind:10}  {finding.subject}: {finding.message}", markup=False
            )
        for note in notes:
            console.print(f"note: {note}", markup=False)
        warnings = len(findings) - len(errors)
        console.print(
            f"inventory of {manifest_path}: {len(errors)} error(s), {warnings} warning(s)", markup=False
        )
    if errors:
        raise typer.Exit(int(ExitCode.FAILED))


def _addresses(route: Route, backends) -> list[str]:
    names = {"legacy": ["legacy"], "modern": ["modern"], "canary": ["modern", "legacy"]}[route.mode]
    return [f"{name} {server}" for name in names for server in backends[name].servers]


def move_cmd(
    ctx: typer.Context,
    route: Annotated[str, typer.Argument(help="Route id from the manifest.")],
    to: Annotated[str, typer.Option("--to", help="legacy, canary or modern.")],
    percent: Annotated[int | None, typer.Option(help="Share of sticky keys on modern (canary only).")] = None,
    force: Annotated[bool, typer.Option(help="Move toward modern without a green parity result.")] = False,
    manifest: ManifestOpt = None,
    proxy_dir: ProxyDirOpt = None,
    report: ReportOpt = None,
    repo: RepoOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Move a route to legacy, canary (--percent N) or modern; live on a running nginx, no reload."""

    @reports_errors
    def run() -> None:
        if to not in ("legacy", "canary", "modern"):
            raise CutoverError(f"--to must be legacy, canary or modern (got {to!r})")
        manifest_path, door = _places(ctx, manifest, proxy_dir)
        _move(
            route, to, percent, force=force, manifest=manifest_path, door=door,
            report=_report(ctx, report), repo=_repo(ctx, repo), project=project_config(ctx),
            audit=audit_url(ctx, audit),
        )  # fmt: skip

    run()


def rollback_cmd(
    ctx: typer.Context,
    route: Annotated[str, typer.Argument(help="Route id from the manifest.")],
    manifest: ManifestOpt = None,
    proxy_dir: ProxyDirOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Send a route back to legacy at once (no parity gate)."""

    @reports_errors
    def run() -> None:
        manifest_path, door = _places(ctx, manifest, proxy_dir)
        _move(
            route,
            "legacy",
            None,
            force=False,
            manifest=manifest_path,
            door=door,
            report=None,
            repo=None,
            audit=audit_url(ctx, audit),
        )

    run()


def _move(
    route_id: str,
    mode: str,
    percent: int | None,
    *,
    force: bool,
    manifest: Path,
    door: Door,
    report: Path | None,
    repo: Path | None,
    audit: str,
    project: ProjectConfig | None = None,
) -> None:
    outcome = move(
        route_id, mode, percent, manifest=manifest, door=door, actor=Actor(current_user(), "cli"),
        audit_url=audit, project=project, report=report, repo=repo, force=force,
    )  # fmt: skip
    for reading in outcome.readings:
        err_console.print(f"cutover: gate: {reading}", markup=False)
    for warning in outcome.warnings:
        err_console.print(f"cutover: warning: {warning}", markup=False)
    before, after = outcome.before, outcome.after
    if not outcome.changed:
        console.print(outcome.unchanged_text(route_id), markup=False)
        return
    console.print(f"{route_id}: {describe(before)} -> {describe(after)} ({manifest} updated)", markup=False)
    name = outcome.front_door
    if outcome.applied == "live" and name == "envoy":
        console.print("envoy: switched live, routes read back, no restart (kept for the next start)")
    elif outcome.applied == "live":
        console.print("nginx: switched live, no reload (configuration checked and kept for the next start)")
    elif outcome.applied == "reloaded":
        console.print("nginx: configuration checked and reloaded gracefully")
    else:
        console.print(
            f"{name}: configuration checked; not running, it applies at the next `cutover up`", markup=False
        )


__all__ = ["register"]
