"""What the dashboard's pages show, gathered from where the CLI reads it: the manifest (as the running front
door serves it), the parity report and its verdict for the code checked out, the shadow store, the live
traffic series and the audit log.

Every function here blocks (files, git, databases): the app calls them in a worker thread. None raises for
a missing or unreadable source: the page says what is missing instead (``problems``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..audit import AuditEntry, read_entries
from ..config import ProjectConfig
from ..errors import CutoverError, one_line
from ..metrics.series import BACKENDS, Totals
from ..parity.redact import Redactor
from ..parity.verdict import Revision, Verdict, current_revision, read_report, verdict
from ..proxy.apply import read_target
from ..proxy.doors import FrontDoor, project_door, status
from ..proxy.manifest import Manifest, Route, load_manifest
from ..proxy.moves import describe
from ..shadow.report import thresholds_of
from ..shadow.store import RouteSummary, ShadowStore, Thresholds
from ..statedb import StoreNotFound
from .traffic import Traffic

REVISION_TTL = 10.0  # seconds the checked-out revision is taken as known (the gate reads it afresh)
AUDIT_ON_INDEX = 20  # the latest moves on the main page; /audit shows more
AUDIT_PAGE = 500
_REDACTOR = Redactor()  # values are redacted where they are stored; masked again here, by their path


@dataclass(frozen=True)
class Sources:
    """Where the dashboard reads from and moves with: the same places the CLI's commands use."""

    manifest: Path
    door: FrontDoor
    report: Path
    repo: Path
    audit_url: str
    shadow_url: str | None = None  # None: no shadow figures
    thresholds: Thresholds = field(default_factory=Thresholds)
    project: ProjectConfig | None = None  # for the move's serving check and shadow gate

    @classmethod
    def of(
        cls, project: ProjectConfig, *, manifest: Path | None = None, door: FrontDoor | None = None,
        report: Path | None = None, repo: Path | None = None, audit: str | None = None,
    ) -> Sources:  # fmt: skip
        """The project's places, each replaced by the one given (the CLI's options)."""
        return cls(
            manifest=manifest if manifest is not None else project.proxy.manifest,
            door=door if door is not None else project_door(project.root, project.proxy.front_door),
            report=report if report is not None else project.parity.report,
            repo=repo if repo is not None else project.root,
            audit_url=audit if audit is not None else project.audit.url,
            shadow_url=project.shadow.url,
            thresholds=thresholds_of(project.shadow),
            project=project,
        )


@dataclass(frozen=True)
class RouteRow:
    """One route as the routes table shows it."""

    route: Route
    parity: Verdict
    shadow: RouteSummary | None
    live: Mapping[str, Totals]  # per backend that answered, over the charts' span
    actual_share: float | None  # of the last minute's requests, the share meant for modern

    @property
    def id(self) -> str:
        return self.route.id

    def cells(self) -> dict[str, str]:
        """The texts of the row's figures: the page renders them and its refresh replaces them."""
        route = self.route
        mode = describe(route) + (f" by {route.sticky}" if route.mode == "canary" else "")
        out = {
            "mode": mode,
            "share": f"{route.modern_share}%",
            "actual": "-" if self.actual_share is None else f"{self.actual_share:.0%}",
            "parity": _parity_text(self.parity),
            "shadow": _shadow_text(route, self.shadow),
        }
        for backend in BACKENDS:
            totals = self.live.get(backend, Totals(0, 0, None))
            out[f"{backend}_requests"] = str(totals.requests)
            out[f"{backend}_errors"] = "-" if totals.error_rate is None else f"{totals.error_rate:.1%}"
            out[f"{backend}_p99"] = milliseconds(totals.p99)
        return out

    def as_dict(self) -> dict[str, Any]:
        route = self.route
        return {
            "id": route.id,
            "match": route.match,
            "path": route.path,
            "methods": list(route.methods),
            "mode": route.mode,
            "percent": route.modern_share,
            "pinned": route.pinned,
            "parity": self.parity.status,
            "parity_green": self.parity.green,
            "cells": self.cells(),
        }


@dataclass(frozen=True)
class Overview:
    """The main page: every route, the latest moves, and what could not be read."""

    manifest: str
    rows: tuple[RouteRow, ...]
    audit: tuple[AuditEntry, ...]
    door: str  # "nginx: running (pid 123)"
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "door": self.door,
            "problems": list(self.problems),
            "routes": [row.as_dict() for row in self.rows],
        }


@dataclass(frozen=True)
class FieldPair:
    """One differing field: its path and the two sides' values, as pretty JSON."""

    path: str
    left: str
    right: str


@dataclass(frozen=True)
class Mismatch:
    """One parity case that did not match: its request and its differing fields."""

    case: str
    description: str
    request: str  # the method and target: "GET /orders/7/"
    fields: tuple[FieldPair, ...]
    error: str = ""


@dataclass(frozen=True)
class ShadowRequest:
    """One kept shadow comparison: the request and the fields where modern differed from legacy."""

    method: str
    target: str
    time: float
    fields: tuple[FieldPair, ...]


@dataclass(frozen=True)
class RoutePage:
    row: RouteRow
    mismatches: tuple[Mismatch, ...]
    shadow_requests: tuple[ShadowRequest, ...]
    history: tuple[AuditEntry, ...]
    door: str
    problems: tuple[str, ...] = ()


class UnknownRoute(CutoverError):
    """No route of that id in the manifest (a 404, not an error of the dashboard)."""


def milliseconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _parity_text(found: Verdict) -> str:
    text = found.short()
    if found.passed and not found.green:
        text += " (not for this code)"
    if found.warnings:
        text += ", with a warning"
    return text


def _shadow_text(route: Route, summary: RouteSummary | None) -> str:
    if summary is None:
        return f"{route.shadow}% shadowed, none compared yet" if route.shadow else "not shadowed"
    return f"compared {summary.compared}, different {summary.different}, noise {summary.noise}"


_revisions: dict[Path, tuple[float, Revision | None]] = {}


def _revision(repo: Path) -> Revision | None:
    """The work tree's revision, read again at most every REVISION_TTL seconds: git diffs the whole tree,
    and every open page asks each refresh."""
    now = time.monotonic()
    known = _revisions.get(repo)
    if known is not None and now - known[0] < REVISION_TTL:
        return known[1]
    found = current_revision(repo)
    _revisions[repo] = (now, found)
    return found


def _manifest(sources: Sources) -> Manifest:
    return read_target(sources.door).apply_to(load_manifest(sources.manifest))


def _shadow(sources: Sources, problems: list[str], route: str | None = None) -> dict[str, RouteSummary]:
    if sources.shadow_url is None:
        return {}
    try:
        # Read only: the dashboard never creates a store, nor tables on a shared database.
        with ShadowStore(sources.shadow_url, create=False) as store:
            found = store.summary(route=route, thresholds=sources.thresholds)
    except StoreNotFound:
        return {}  # nothing shadowed yet
    except (sa.exc.SQLAlchemyError, ValueError, OSError) as exc:
        problems.append(f"cannot read the shadow store: {one_line(exc)}")
        return {}
    return {summary.route: summary for summary in found}


def _audit(sources: Sources, problems: list[str], route: str | None, limit: int) -> tuple[AuditEntry, ...]:
    try:
        return tuple(read_entries(sources.audit_url, route=route, limit=limit))  # none recorded yet: ()
    except CutoverError as exc:
        problems.append(str(exc))
        return ()


def _row(
    route: Route, sources: Sources, revision: Revision | None, shadow: Mapping[str, RouteSummary],
    traffic: Traffic | None, now: float,
) -> RouteRow:  # fmt: skip
    found = verdict(sources.report, route.id, repo=sources.repo, revision=revision)
    if traffic is None:
        live: dict[str, Totals] = {}
        share = None
    else:
        live = {backend: traffic.totals(route.id, backend, now) for backend in BACKENDS}
        share = traffic.modern_share(route.id, now)
    return RouteRow(route, found, shadow.get(route.id), live, share)


def overview(sources: Sources, traffic: Traffic | None, *, now: float | None = None) -> Overview:
    """Every route of the manifest with its figures, and the latest moves."""
    now = time.time() if now is None else now
    problems: list[str] = []
    if traffic is not None:
        traffic.poll()
        if traffic.problem:
            problems.append(traffic.problem)
    try:
        manifest = _manifest(sources)
    except CutoverError as exc:
        problems.append(str(exc))
        rows: tuple[RouteRow, ...] = ()
    else:
        revision = _revision(sources.repo)  # once for every route: git runs per call
        shadow = _shadow(sources, problems)
        rows = tuple(_row(r, sources, revision, shadow, traffic, now) for r in manifest.routes)
    audit = _audit(sources, problems, None, AUDIT_ON_INDEX)
    return Overview(str(sources.manifest), rows, audit, status(sources.door), tuple(problems))


def audit_entries(sources: Sources, *, limit: int = AUDIT_PAGE) -> tuple[tuple[AuditEntry, ...], list[str]]:
    problems: list[str] = []
    return _audit(sources, problems, None, limit), problems


def route_ids(sources: Sources) -> tuple[str, ...]:
    """The manifest's route ids; CutoverError when it cannot be read."""
    return tuple(r.id for r in load_manifest(sources.manifest).routes)


def route_page(
    sources: Sources, traffic: Traffic | None, route_id: str, *, now: float | None = None
) -> RoutePage:
    """One route: its row, its latest parity mismatches and shadow differences, and its moves.

    UnknownRoute when the manifest has no such route; CutoverError when the manifest cannot be read."""
    now = time.time() if now is None else now
    if traffic is not None:
        traffic.poll()
    manifest = _manifest(sources)
    route = next((r for r in manifest.routes if r.id == route_id), None)
    if route is None:
        known = ", ".join(r.id for r in manifest.routes) or "none"
        raise UnknownRoute(f"no route {route_id!r} in {sources.manifest} (routes: {known})")
    problems: list[str] = []
    shadow = _shadow(sources, problems, route_id)
    row = _row(route, sources, _revision(sources.repo), shadow, traffic, now)
    return RoutePage(
        row,
        _mismatches(sources.report, route_id),
        _shadow_requests(shadow.get(route_id)),
        _audit(sources, problems, route_id, AUDIT_PAGE),
        status(sources.door),
        tuple(problems),
    )


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _pair(path: str, left: Any, right: Any) -> FieldPair:
    return FieldPair(path, pretty(_REDACTOR.at(path, left)), pretty(_REDACTOR.at(path, right)))


def _mismatches(report: Path, route_id: str) -> tuple[Mismatch, ...]:
    """The report's mismatched and failed cases of the route (the report keeps the differing fields, not
    whole responses); none when there is no usable report."""
    data, _ = read_report(report)
    entry = ((data or {}).get("routes") or {}).get(route_id)
    if not isinstance(entry, dict):
        return ()
    out = []
    for case in entry.get("mismatches") or []:
        if not isinstance(case, dict):
            continue
        request = case.get("request")
        if not isinstance(request, dict):
            request = {}
        fields = tuple(
            _pair(str(d.get("path", "")), d.get("legacy"), d.get("modern"))
            for d in case.get("differences") or []
            if isinstance(d, dict)
        )
        out.append(
            Mismatch(
                case=str(case.get("case", "")),
                description=str(case.get("description") or ""),
                request=f"{request.get('method', '')} {request.get('path', '')}".strip(),
                fields=fields,
                error=_REDACTOR.text(str(case.get("error") or "")),
            )
        )
    return tuple(out)


def _shadow_requests(summary: RouteSummary | None) -> tuple[ShadowRequest, ...]:
    """The kept examples of the reported fields, regrouped by request: each request's differing fields."""
    if summary is None:
        return ()
    by_request: dict[tuple[str, str, float], list[FieldPair]] = {}
    for differing in summary.differing:
        for example in differing.examples:
            key = (example.method, example.target, example.time)
            by_request.setdefault(key, []).append(_pair(differing.path, example.primary, example.candidate))
    ordered = sorted(by_request.items(), key=lambda item: item[0][2], reverse=True)
    return tuple(ShadowRequest(m, t, when, tuple(fields)) for (m, t, when), fields in ordered)


__all__ = [
    "FieldPair",
    "Mismatch",
    "Overview",
    "RoutePage",
    "RouteRow",
    "ShadowRequest",
    "Sources",
    "UnknownRoute",
    "audit_entries",
    "milliseconds",
    "overview",
    "pretty",
    "route_ids",
    "route_page",
]
