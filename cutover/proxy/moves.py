"""One move of one route, as the CLI, the dashboard and ``cutover promote`` all make it: the gate (the route
served by modern, parity green for this code, shadow results where the config asks), the change put into
service on the front door, and an audit entry either way.

It prints nothing: what the gate read and what was applied come back in :class:`MoveOutcome` for the caller
to show. A refusal is :class:`MoveRefused` (recorded as ``refused``); any other failure is recorded as
``failed`` and raised as it was. A request that is no move at all (an unknown route, a canary without a
percentage, a pinned route, a manifest that cannot be read) is a usage error, raised before the audit log
is opened and never recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..audit import AuditEntry, open_audit
from ..config import ProjectConfig
from ..errors import CutoverError
from ..shadow.gate import shadow_verdict
from .apply import move_route
from .doors import FrontDoor, kind_of
from .gate import MoveRefused, gate_move, modern_share_after, parity_warnings
from .inventory import serving_problem
from .manifest import Route, load_manifest, read_text, set_route_mode

MODES = ("legacy", "canary", "modern")


@dataclass(frozen=True)
class Actor:
    """Who moves: a user name (plus the client's address from the dashboard), and through what."""

    name: str
    source: str  # "cli" | "dashboard" | "promote"


@dataclass(frozen=True)
class MoveOutcome:
    before: Route
    after: Route
    warnings: tuple[str, ...]  # what --force overrode
    readings: tuple[str, ...]  # what the gate read and found fine (shadow figures)
    applied: str  # how the front door took the manifest: "live" | "reloaded" | "not running" | "not changed"
    front_door: str  # "nginx" | "envoy"
    entry: AuditEntry | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def unchanged_text(self, route_id: str) -> str:
        """What a move that leaves the route where it was did: nothing, or the manifest's other changes."""
        text = f"{route_id}: already {describe(self.after)}"
        door = self.front_door
        if self.applied == "reloaded":
            return f"{text}; {door} reloaded gracefully to apply the manifest's other edits"
        if self.applied == "live":
            return f"{text}; other routes switched live as the manifest now says (it was edited)"
        return f"{text}; nothing changed"


def describe(route: Route) -> str:
    """A route's place: ``legacy``, ``canary 25%`` or ``modern``."""
    return route.mode + (f" {route.percent}%" if route.mode == "canary" else "")


def requested(mode: str, percent: int | None) -> str:
    return mode + (f" {percent}%" if mode == "canary" and percent is not None else "")


def move(
    route_id: str,
    mode: str,
    percent: int | None,
    *,
    manifest: Path,
    door: FrontDoor,
    actor: Actor,
    audit_url: str,
    project: ProjectConfig | None = None,
    report: Path | None = None,
    repo: Path | None = None,
    force: bool = False,
    reason: str | None = None,
) -> MoveOutcome:
    """Move ``route_id`` to ``mode`` (``percent``: a canary's share), gated unless ``report`` is None (a
    rollback: never gated), and record it in the audit log at ``audit_url``."""
    if mode not in MODES:
        raise CutoverError(f"--to must be legacy, canary or modern (got {mode!r})")
    # The request checked as the move will check it (ManifestError), so that a usage error is not an attempt.
    set_route_mode(read_text(manifest), route_id, mode, percent, source=str(manifest))
    # Opened first: a move that could not be recorded is not made.
    with open_audit(audit_url) as audit:
        readings: list[str] = []
        verdicts: list[str] = []
        overrides: list[str] = []

        def gate(route: Route, mode: str, percent: int | None) -> None:
            toward_modern = modern_share_after(mode, percent) > route.modern_share
            if report is None or repo is None:
                verdicts.append("not gated (rollback)")
                return
            if not toward_modern:
                verdicts.append("not gated (toward legacy)")
                return
            warnings = [
                _serving(project, manifest, route, mode, force),
                gate_move(route, mode, percent, report=report, repo=repo, force=force),
            ]
            if warnings[1] is None:  # allowed: said with what the verdict warns of ([parity] blocking)
                cautions = parity_warnings(route.id, report, repo)
                readings.extend(f"parity green, with a warning: {w}" for w in cautions)
            warnings.append(_shadow(project, route, mode, force, readings, parity_green=warnings[1] is None))
            found = [w for w in warnings if w]
            overrides.extend(found)
            verdicts.append("; ".join(found) if found else readings[-1] if readings else "parity green")

        def record(outcome: str, before: str, after: str, gate_text: str) -> AuditEntry:
            return audit.record(
                actor=actor.name, source=actor.source, route=route_id, before=before, after=after,
                requested=requested(mode, percent), outcome=outcome, gate=gate_text, forced=force,
                reason=reason,
            )  # fmt: skip

        try:
            result = move_route(manifest, door, route_id, mode, percent, gate=gate)
        except MoveRefused as exc:
            place = _place_of(manifest, route_id)
            record("refused", place, place, str(exc))
            raise
        except CutoverError as exc:
            place = _place_of(manifest, route_id)
            record("failed", place, place, verdicts[-1] if verdicts else f"not reached: {exc}")
            raise
        before, after = result.before, result.after
        # Said even when the route stays where it was: the manifest as it is now was put into service,
        # with any hand edits of it (a reload for a new path or shadow share, a push for other modes).
        if result.live:
            applied = "live" if before != after or result.pushed_other else "not changed"
        elif result.reloaded:
            applied = "reloaded"
        else:
            applied = "not running"
        entry = record(
            "moved" if before != after else "unchanged",
            describe(before),
            describe(after),
            verdicts[-1] if verdicts else "not gated",
        )
        return MoveOutcome(before, after, tuple(overrides), tuple(readings), applied, kind_of(door), entry)


def _place_of(manifest: Path, route_id: str) -> str:
    try:
        return describe(load_manifest(manifest).route(route_id))
    except CutoverError:
        return "unknown"


def _serving(
    project: ProjectConfig | None, manifest: Path, route: Route, mode: str, force: bool
) -> str | None:
    """A route's first requests to modern need a modern that serves it (else every one would be a 404)."""
    if project is None or mode == "legacy" or route.mode != "legacy":
        return None
    problem = serving_problem(project, load_manifest(manifest), route.id)
    if problem is None:
        return None
    if not force:
        raise MoveRefused(f"refusing to move {route.id!r} to {mode}: {problem} (a 404); or pass --force")
    return f"moving {route.id!r} to {mode} although {problem}; --force given"


def _shadow(
    project: ProjectConfig | None, route: Route, mode: str, force: bool, readings: list[str], *,
    parity_green: bool,
) -> str | None:  # fmt: skip
    """The shadow results' part of the gate, when the config asks for it: refuses (or warns, with --force)
    a move toward modern; what it read goes to ``readings``."""
    if project is None:
        return None
    found = shadow_verdict(project, route.id)
    if not found.used:
        return None
    if found.problem is None:
        parity = "parity green" if parity_green else "parity overridden by --force"
        readings.append(f"{parity}; {found.summary}")
        return None
    if force:
        return f"moving {route.id!r} toward modern although {found.problem}; --force given"
    raise MoveRefused(
        f"refusing to move {route.id!r} to {mode}: {found.problem} ({found.summary}); or pass --force"
    )


__all__ = ["MODES", "Actor", "MoveOutcome", "describe", "move", "requested"]
