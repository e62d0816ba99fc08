"""The parity gate: a route moves toward FastAPI only when the latest parity report shows it green for the
code that is running now.

"Now" is ``git rev-parse HEAD`` with a clean work tree (any change to tracked files or a new file that
is not ignored makes it dirty): a report for another revision, or any report while the tree is dirty, does
not vouch for the code and is not green. The report itself is written by ``cutover parity --report``
(format 1, read through ``cutover.parity.report.latest_status``); this module holds the rule.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CutoverError
from ..exit_codes import ExitCode
from .manifest import Route

DEFAULT_REPORT = Path(".cutover") / "parity-report.json"


@dataclass(frozen=True)
class Revision:
    sha: str
    dirty: bool

    def __str__(self) -> str:
        return self.sha[:12] + ("-dirty" if self.dirty else "")


@dataclass(frozen=True)
class ParityResult:
    """What the latest report says about one route."""

    status: str  # "green", "red" or "missing"
    revision: str | None = None
    dirty: bool = False
    time: str | None = None
    detail: str = ""

    @property
    def green(self) -> bool:
        return self.status == "green"

    def short(self) -> str:
        if self.status == "missing":
            return "no result"
        rev = (self.revision or "?")[:12] + ("-dirty" if self.dirty else "")
        return f"{self.status} @ {rev}"


class MoveRefused(CutoverError):
    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.FAILED)


def current_revision(repo: Path) -> Revision | None:
    """HEAD of the git work tree at ``repo``, dirty: changed tracked files or new unignored ones."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return Revision(sha, dirty=bool(status.strip()))


def parity_result(report: Path, route_id: str) -> ParityResult:
    """The latest parity result for ``route_id`` in the report at ``report`` (format 1 of cutover.parity)."""
    try:
        from ..parity.report import latest_status  # the parity engine's own reader
    except Exception:  # the engine is absent or cannot load: read the same format here
        return _read_report(report, route_id)
    status = latest_status(report, route_id)
    if status.revision is None or not status.counts:
        return ParityResult("missing", detail=status.reason)
    if not status.counts.get("cases"):  # the route was not run (e.g. `cutover parity --route other`)
        return ParityResult("missing", detail=f"the parity report has no cases for {route_id}")
    return ParityResult(
        "green" if status.passed else "red",
        revision=status.revision.commit,
        dirty=status.revision.dirty,
        time=status.generated_at,
        detail=status.reason,
    )


def _read_report(report: Path, route_id: str) -> ParityResult:
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ParityResult("missing", detail=f"no parity report at {report}")
    except (OSError, ValueError) as exc:
        return ParityResult("missing", detail=f"cannot read the parity report {report}: {exc}")
    if not isinstance(data, dict) or data.get("format") != 1:
        return ParityResult("missing", detail=f"the parity report {report} is in an unknown format")
    entry = (data.get("routes") or {}).get(route_id)
    if not isinstance(entry, dict):
        return ParityResult("missing", detail=f"the parity report has no cases for {route_id!r}")
    cases, matched = int(entry.get("cases", 0)), int(entry.get("matched", 0))
    if not cases:
        return ParityResult("missing", detail=f"the parity report has no cases for {route_id}")
    passed = entry.get("status") == "green" and cases > 0 and matched == cases
    revision: Any = data.get("revision") or {}
    return ParityResult(
        "green" if passed else "red",
        revision=str(revision.get("commit")) if isinstance(revision, dict) else None,
        dirty=bool(revision.get("dirty", True)) if isinstance(revision, dict) else True,
        time=data.get("generated_at"),
        detail=f"{cases - matched} of {cases} case(s) did not match",
    )


def gate_move(
    route: Route,
    mode: str,
    percent: int | None,
    *,
    report: Path,
    repo: Path,
    force: bool,
) -> str | None:
    """Allow or refuse moving ``route`` to ``mode``; the one place the gate's rule lives.

    Moving toward modern (to canary or modern, or a larger canary share) needs a green result for the
    current revision. Moving back toward legacy (``rollback``, a smaller share) never waits for parity: that
    is what one does when parity turns red. Returns a warning when ``force`` overrode a refusal.
    """
    share = 100 if mode == "modern" else (percent or 0) if mode == "canary" else 0
    if share <= route.modern_share:
        return None
    problem = why_not_green(route.id, report, repo)
    if problem is None:
        return None
    if force:
        return f"moving {route.id!r} toward modern without a green parity result ({problem}); --force given"
    raise MoveRefused(
        f"refusing to move {route.id!r} to {mode}: {problem}; "
        f"run `cutover parity --report {report}` on a clean commit, or pass --force"
    )


def why_not_green(route_id: str, report: Path, repo: Path) -> str | None:
    """Why the gate would refuse to move ``route_id`` toward modern now, or None when it would allow it."""
    result = parity_result(report, route_id)
    if result.status == "missing":
        return result.detail
    if not result.green:
        return f"the latest parity report shows {route_id!r} red ({result.detail})"
    if result.dirty:
        return "the parity report was made from a work tree with uncommitted changes"
    now = current_revision(repo)
    if now is None:
        return f"{repo} is not a git work tree, so the code revision is unknown"
    if now.dirty:
        return f"the work tree has uncommitted changes (HEAD {now.sha[:12]}): parity cannot vouch for them"
    if result.revision != now.sha:
        made = (result.revision or "?")[:12]
        return f"the parity report is for revision {made}, the code is at {now.sha[:12]}"
    return None


__all__ = [
    "DEFAULT_REPORT",
    "MoveRefused",
    "ParityResult",
    "Revision",
    "current_revision",
    "gate_move",
    "parity_result",
    "why_not_green",
]
