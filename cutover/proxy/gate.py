"""The parity gate: a route moves toward FastAPI only when the latest parity report shows it green for the
code checked out now.

The rule itself (every case matched, a report of a clean work tree, the same commit checked out and clean
now) lives in :mod:`cutover.parity.verdict`, the one answer the gate, ``cutover routes`` and the report
writer share; this module applies it to a move.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import CutoverError
from ..exit_codes import ExitCode
from ..parity.verdict import Verdict, verdict
from .manifest import Route

DEFAULT_REPORT = Path(".cutover") / "parity-report.json"


@dataclass(frozen=True)
class ParityResult:
    """What the latest report says about one route, as `cutover routes` shows it."""

    status: str  # "green", "red" or "missing"
    revision: str | None = None
    dirty: bool = False
    time: str | None = None
    detail: str = ""
    warnings: tuple[str, ...] = ()  # what does not stop the route ([parity] blocking = "warn")

    @property
    def green(self) -> bool:
        return self.status == "green"

    def short(self) -> str:
        if self.status == "missing":
            return "no result"
        rev = (self.revision or "?")[:12] + ("-dirty" if self.dirty else "")
        return f"{self.status} @ {rev}" + (", with a warning" if self.warnings else "")

    @classmethod
    def of(cls, found: Verdict) -> ParityResult:
        if found.status == "missing" or found.revision is None:
            return cls("missing", detail=found.reason)
        return cls(
            found.status, found.revision.commit, found.revision.dirty, found.generated_at, found.reason,
            found.warnings,
        )  # fmt: skip


class MoveRefused(CutoverError):
    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.FAILED)


def parity_result(report: Path, route_id: str, repo: Path | None = None) -> ParityResult:
    """The latest parity result for ``route_id`` in the report at ``report``."""
    return ParityResult.of(verdict(report, route_id, repo=repo))


def why_not_green(route_id: str, report: Path, repo: Path) -> str | None:
    """Why the gate would refuse to move ``route_id`` toward modern now, or None when it would allow it."""
    found = verdict(report, route_id, repo=repo)
    return None if found.green else found.reason


def parity_warnings(route_id: str, report: Path, repo: Path) -> tuple[str, ...]:
    """What the verdict on ``route_id`` warns of without refusing (blocking calls, ``[parity] blocking =
    "warn"``): the move gate says it as it allows the move."""
    return verdict(report, route_id, repo=repo).warnings


def modern_share_after(mode: str, percent: int | None) -> int:
    """The share of a route's sticky keys on modern once it is moved to ``mode`` (``percent``: a canary's)."""
    return 100 if mode == "modern" else (percent or 0) if mode == "canary" else 0


def gate_move(
    route: Route,
    mode: str,
    percent: int | None,
    *,
    report: Path,
    repo: Path,
    force: bool,
) -> str | None:
    """Allow or refuse moving ``route`` to ``mode``; returns a warning when ``force`` overrode a refusal.

    Moving toward modern (to canary or modern, or a larger canary share) needs a green verdict. Moving back
    toward legacy (``rollback``, a smaller share) never waits for parity: that is what one does when parity
    turns red.
    """
    if modern_share_after(mode, percent) <= route.modern_share:
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


__all__ = [
    "DEFAULT_REPORT",
    "MoveRefused",
    "ParityResult",
    "gate_move",
    "modern_share_after",
    "parity_result",
    "parity_warnings",
    "why_not_green",
]
