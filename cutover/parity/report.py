"""The parity report: JSON (read by the cutover gate through :func:`latest_status`) and JUnit XML.

JSON format (``"format": 1``)::

    {
      "format": 1,
      "generated_at": "2026-11-28T02:00:00Z",
      "revision": {"commit": "<git HEAD>", "dirty": false, "tree": "<sha256 of uncommitted changes>"},
      "mode": "in-process" | "live",
      "legacy": "...", "modern": "...",
      "routes": {
        "users": {
          "status": "green" | "red",
          "cases": 60, "matched": 60, "mismatched": 0, "errors": 0, "noise": 2,
          "mismatches": [{"case": "users/x", "description": "...", "request": {...},
                          "differences": [{"path": "...", "legacy": ..., "modern": ...}], "error": ""}]
        }
      },
      "totals": {"cases": ..., "matched": ..., "mismatched": ..., "errors": ..., "noise": ...}
    }

Every value in it has passed through the redactor: no credential, cookie, CSRF token or password.
A route is green only with at least one case and every case matched; a report counts as green for a
route only when it was made from the code revision checked out now (see :func:`latest_status`).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .redact import Redactor
from .runner import CaseResult

__all__ = [
    "DEFAULT_REPORT_PATH",
    "ROUTE_IDS",
    "Revision",
    "RouteStatus",
    "build_report",
    "current_revision",
    "latest_status",
    "write_junit",
    "write_report",
]

FORMAT = 1
DEFAULT_REPORT_PATH = Path(".cutover") / "parity-report.json"
# The routes of migration_notes/routes.toml. `admin` is pinned to the legacy and has no parity cases,
# so it is never green: it cannot be moved.
ROUTE_IDS = ("auth-token", "users", "user-detail", "users-me", "admin")


@dataclass(frozen=True)
class Revision:
    """The code a report was made from: the commit, and a digest of uncommitted changes if any."""

    commit: str
    dirty: bool
    tree: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty, "tree": self.tree}

    @classmethod
    def from_dict(cls, data: Any) -> Revision:
        if not isinstance(data, dict):
            return cls("unknown", True, "")
        return cls(
            str(data.get("commit", "unknown")), bool(data.get("dirty", True)), str(data.get("tree", ""))
        )


def current_revision(repo: Path | None = None) -> Revision:
    """``git rev-parse HEAD`` plus whether the working tree differs, and a digest of the difference.

    The digest covers tracked changes (``git diff HEAD``) and untracked, not ignored files, so a report
    from a dirty tree is only accepted for exactly that same tree.
    """

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").decode().strip()
        diff = git("diff", "HEAD", "--binary")
        untracked = git("ls-files", "--others", "--exclude-standard", "-z").split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        return Revision("unknown", True, "")
    digest = hashlib.sha256(diff)
    root = Path(git("rev-parse", "--show-toplevel").decode().strip())
    for name in sorted(n for n in untracked if n):
        digest.update(name + b"\0")
        try:
            digest.update(hashlib.sha256((root / name.decode()).read_bytes()).digest())
        except OSError:
            pass
    dirty = bool(diff) or any(untracked)
    return Revision(commit, dirty, digest.hexdigest() if dirty else "")


def _counts(results: Sequence[CaseResult]) -> dict[str, int]:
    return {
        "cases": len(results),
        "matched": sum(r.outcome == "match" for r in results),
        "mismatched": sum(r.outcome == "mismatch" for r in results),
        "errors": sum(r.outcome == "error" for r in results),
        "noise": sum(bool(r.noise) for r in results),
    }


def _entry(result: CaseResult, redactor: Redactor) -> dict[str, Any]:
    observed = result.legacy or result.modern
    request = observed.request if observed is not None else None
    entry: dict[str, Any] = {"case": result.case.key, "description": result.case.description}
    if request is not None:
        body = request.body.decode("utf-8", "replace") if request.body else None
        try:
            body_value: Any = json.loads(body) if body else None
        except ValueError:
            body_value = body
        entry["request"] = {
            "method": request.method,
            "path": request.path,
            "query": [list(p) for p in request.query],
            "headers": redactor.headers(request.headers),
            "body": redactor.value(body_value),
        }
    entry["auth"] = str(result.case.auth)
    entry["differences"] = [redactor.value(d.as_dict(redactor)) for d in result.mismatches]
    if result.error:
        entry["error"] = redactor.text(result.error)
    return entry


def build_report(
    results: Sequence[CaseResult], redactor: Redactor, *, mode: str, legacy: str, modern: str,
    revision: Revision | None = None, routes: Iterable[str] = (),
) -> dict[str, Any]:  # fmt: skip
    """The JSON-ready report of a run (redacted)."""
    by_route: dict[str, list[CaseResult]] = {r: [] for r in routes}
    for result in results:
        by_route.setdefault(result.case.route, []).append(result)
    report_routes = {}
    for route, route_results in sorted(by_route.items()):
        counts = _counts(route_results)
        green = counts["cases"] > 0 and counts["matched"] == counts["cases"]
        report_routes[route] = {
            "status": "green" if green else "red",
            **counts,
            "mismatches": [_entry(r, redactor) for r in route_results if r.outcome != "match"],
            "noise_paths": sorted({f"{r.case.id}: {d.path}" for r in route_results for d in r.noise}),
            "ignored": sorted({f"{d.path}: {d.reason}" for r in route_results for d in r.ignored}),
        }
    return {
        "format": FORMAT,
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "revision": (revision or current_revision()).as_dict(),
        "mode": mode,
        "legacy": legacy,
        "modern": modern,
        "routes": report_routes,
        "totals": _counts(results),
    }


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the JSON report atomically (the gate may be reading the previous one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_junit(results: Sequence[CaseResult], redactor: Redactor, path: Path, render: Any) -> None:
    """JUnit XML: one test suite per route, one test case per parity case; ``render(result)`` -> text."""
    root = ET.Element("testsuites", name="cutover parity")
    by_route: dict[str, list[CaseResult]] = {}
    for result in results:
        by_route.setdefault(result.case.route, []).append(result)
    for route, route_results in sorted(by_route.items()):
        counts = _counts(route_results)
        suite = ET.SubElement(
            root, "testsuite", name=route, tests=str(counts["cases"]),
            failures=str(counts["mismatched"]), errors=str(counts["errors"]),
        )  # fmt: skip
        for result in route_results:
            elapsed = sum(o.elapsed for o in (result.legacy, result.modern) if o is not None)
            tc = ET.SubElement(suite, "testcase", classname=f"parity.{route}", name=result.case.id,
                               time=f"{elapsed:.3f}")  # fmt: skip
            if result.outcome == "mismatch":
                failure = ET.SubElement(tc, "failure", message=f"{len(result.mismatches)} difference(s)")
                failure.text = redactor.text(render(result))
            elif result.outcome == "error":
                error = ET.SubElement(tc, "error", message=redactor.text(result.error))
                error.text = redactor.text(result.error)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


@dataclass(frozen=True)
class RouteStatus:
    """What the latest report says about one route, judged against the code checked out now.

    ``green`` is True only when the report shows every case of the route matched AND the report was made
    from the current revision (same commit, same uncommitted changes). ``reason`` says why not.
    """

    route: str
    green: bool
    passed: bool  # every case matched in that report, whatever revision it was made from
    revision: Revision | None
    generated_at: str | None
    reason: str
    counts: dict[str, int]

    @property
    def status(self) -> str:
        return "green" if self.green else "red"


def latest_status(report_path: Path, route_id: str, *, revision: Revision | None = None) -> RouteStatus:
    """The route's status in the report at ``report_path``, for the code revision checked out now.

    Never raises for a missing or unreadable report: that is a red status with a reason.
    ``revision`` defaults to :func:`current_revision` of the current directory.
    """
    try:
        data = json.loads(Path(report_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RouteStatus(route_id, False, False, None, None, f"no parity report at {report_path}", {})
    except (OSError, ValueError) as exc:
        return RouteStatus(route_id, False, False, None, None, f"unreadable parity report: {exc}", {})
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return RouteStatus(route_id, False, False, None, None, "parity report in an unknown format", {})
    made_from = Revision.from_dict(data.get("revision"))
    generated_at = data.get("generated_at")
    route = (data.get("routes") or {}).get(route_id)
    if not isinstance(route, dict):
        return RouteStatus(
            route_id, False, False, made_from, generated_at, f"the report has no cases for {route_id}", {}
        )
    counts = {k: int(route.get(k, 0)) for k in ("cases", "matched", "mismatched", "errors", "noise")}
    passed = route.get("status") == "green" and counts["cases"] > 0 and counts["matched"] == counts["cases"]
    now = revision or current_revision()
    if not passed:
        reason = (
            f"{counts['mismatched']} mismatched and {counts['errors']} failed of {counts['cases']} case(s)"
        )
    elif made_from.commit != now.commit:
        reason = f"the report is for revision {made_from.commit[:12]}, the code is at {now.commit[:12]}"
    elif made_from.dirty != now.dirty or made_from.tree != now.tree:
        reason = "the report was made from different uncommitted changes than the working tree has now"
    else:
        reason = "every case matched on this revision"
    green = passed and reason == "every case matched on this revision"
    return RouteStatus(route_id, green, passed, made_from, generated_at, reason, counts)
