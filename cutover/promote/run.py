"""The promotion loop: step a route's canary up, judging each window before the next step (docs/promote.md).

The flow, for steps ``5, 25, 50, 100``:

1. A route on legacy takes the first step at once: nothing of modern has been measured yet, so that step is
   gated by the move gate alone (the modern serves the route, parity green, shadow results where the config
   asks). A route already on a canary starts by judging its current share, then steps to the first
   percentage above it.
2. Then, per step: measure one ``interval`` of the front door's access log and judge it
   (:mod:`cutover.promote.judge`). Healthy: take the next step (through the same gated move). A breach:
   roll back to legacy at once, ungated, the breach recorded as the rollback's reason. Too few requests:
   measure one more interval (the window grows), at most ``max_waits`` times, then stop, inconclusive,
   leaving the route where it is.
3. The step to 100 moves the route to ``modern`` and ends the promotion: once no request goes to legacy
   there is no legacy in the same window to compare with. A last step below 100 is judged like any other,
   then the promotion ends there.

A move made meanwhile by someone else (``cutover move``, ``cutover rollback``, the dashboard) stops the
promotion where that move put the route: the window measured was not the one the promotion set.

A dry run judges (at most one window) and says what it would do; it never moves a route nor writes the
audit log. Ctrl-C stops the waiting; a move in progress is finished first (SIGINT is held off meanwhile),
so the route is always where the last completed move put it.

Everything the loop touches is passed in (the :class:`Router`, the log, the readings, the clock and sleep),
so that its unit tests run without a front door and without waiting.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..audit import open_audit
from ..config import ProjectConfig, PromoteConfig
from ..errors import CutoverError
from ..exit_codes import ExitCode
from ..metrics.access_log import Entry
from ..parity.verdict import verdict
from ..proxy.doors import FrontDoor
from ..proxy.gate import MoveRefused, why_not_green
from ..proxy.manifest import Route, load_manifest
from ..proxy.moves import Actor, MoveOutcome, describe, move, requested
from ..runner import Terminated
from ..shadow.gate import shadow_verdict
from ..shadow.report import thresholds_of
from ..shadow.store import ShadowStore, StoreNotFound
from .judge import Parity, Shadow, Verdict, judge, window_of

Ending = Literal[
    "promoted", "rolled back", "refused", "inconclusive", "interrupted", "nothing to do", "dry run"
]


@dataclass(frozen=True)
class Result:
    ending: Ending
    place: str  # where the route is at the end: "legacy", "canary 25%", "modern"
    message: str
    code: int


class Router(Protocol):
    """The route as the loop sees it: where it is, moving it, and recording what was not a move."""

    def place(self) -> Route: ...

    def move(self, mode: str, percent: int | None, *, gated: bool, reason: str) -> MoveOutcome: ...

    def gate_problem(self, route: Route) -> str | None: ...

    def record(self, route: Route, asked: str, gate: str, reason: str) -> None: ...


class Source(Protocol):
    """New access-log entries since the last read (a :class:`~cutover.metrics.access_log.LogFollower`)."""

    def read(self) -> list[Entry]: ...


class Progress(Protocol):
    def line(self, text: str) -> None: ...

    def status(self, text: str) -> None: ...  # transient (a terminal's live line); may show nothing


Readings = Callable[[Route, float], tuple[Parity, Shadow | None]]  # the route, the window's start (epoch)


class Promotion:
    def __init__(
        self,
        route_id: str,
        *,
        steps: tuple[int, ...],
        interval: float,
        config: PromoteConfig,
        router: Router,
        log: Source,
        readings: Readings,
        progress: Progress,
        dry_run: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.route_id = route_id
        self.steps = steps
        self.interval = interval
        self.config = config
        self.router = router
        self.log = log
        self.readings = readings
        self.progress = progress
        self.dry_run = dry_run
        self.sleep, self.clock, self.wall = sleep, clock, wall
        self.completed = 0  # steps this promotion completed

    def run(self) -> Result:
        try:
            return self._run()
        except (KeyboardInterrupt, Terminated):  # Ctrl-C, SIGTERM (cutover.runner.install_stop_signals)
            place = describe(self.router.place())
            why = "the last completed step" if self.completed else "where it was; no step completed"
            message = f"interrupted: {self.route_id} left at {place} ({why})"
            return Result("interrupted", place, message, ExitCode.INTERRUPTED)

    def _run(self) -> Result:
        route = self.router.place()
        if route.pinned:  # as the manifest says it when a move is asked of one
            raise CutoverError(f"route {route.id!r} is pinned to legacy and cannot move")
        if route.mode == "modern":
            return Result("nothing to do", "modern", f"{route.id} is on modern already: nothing to promote",
                          ExitCode.OK)  # fmt: skip
        remaining = [s for s in self.steps if s > route.modern_share]
        if not remaining:
            message = f"{route.id} is at {describe(route)}, at or above the last step ({self.steps[-1]}%)"
            return Result("nothing to do", describe(route), message, ExitCode.OK)
        if route.mode == "legacy":
            if self.dry_run:
                return self._dry_first(route, remaining[0])
            refused = self._step(route, remaining.pop(0), None)
            if refused is not None:
                return refused
        while True:
            route = self.router.place()
            found = self._watch(route)
            now = self.router.place()
            if (now.mode, now.modern_share) != (route.mode, route.modern_share):
                message = (
                    f"{route.id} was moved from {describe(route)} to {describe(now)} while its window was "
                    "measured (another move): the promotion stops there"
                )
                return Result("refused", describe(now), message, ExitCode.FAILED)
            if found.outcome == "breach":
                if self.dry_run:
                    place = describe(route)
                    message = f"dry run: would roll {route.id} back from {place} to legacy: {found.reason}"
                    return Result("dry run", describe(route), message, ExitCode.FAILED)
                return self._rollback(route, found)
            if found.outcome == "waiting":
                return self._inconclusive(route, found, remaining)
            if not remaining:
                message = (
                    f"{route.id} promoted to {describe(route)} (the last step); its last window was healthy"
                )
                return Result("promoted", describe(route), message, ExitCode.OK)
            if self.dry_run:
                asked = _target(remaining[0])
                message = (
                    f"dry run: healthy; would move {route.id} from {describe(route)} to {requested(*asked)}"
                )
                return Result("dry run", describe(route), message, ExitCode.OK)
            refused = self._step(route, remaining.pop(0), found)
            if refused is not None:
                return refused
            if self.router.place().mode == "modern":
                return Result("promoted", "modern", f"{route.id} promoted to modern", ExitCode.OK)

    # -- the parts ---------------------------------------------------------------------------------------

    def _step(self, route: Route, percent: int, healthy: Verdict | None) -> Result | None:
        """Take one step through the gated move; a refusal ends the promotion (the route stays)."""
        mode, share = _target(percent)
        number = self.steps.index(percent) + 1
        after = f" after a healthy window ({healthy.window.short()})" if healthy else ""
        change = f"{describe(route)} -> {requested(mode, share)}"
        reason = f"promote step {number} of {len(self.steps)}: {change}{after}"
        try:
            with _uninterrupted():
                outcome = self.router.move(mode, share, gated=True, reason=reason)
                self.completed += 1  # before a Ctrl-C held off meanwhile is delivered
        except MoveRefused as exc:
            place = describe(self.router.place())
            return Result(
                "refused", place, f"step refused: {exc}; {route.id} left at {place}", ExitCode.FAILED
            )
        gate = "; ".join(outcome.readings) or (outcome.entry.gate if outcome.entry else "")
        self.progress.line(f"step {number}/{len(self.steps)}: {route.id} {describe(outcome.before)} -> "
                           f"{describe(outcome.after)} ({outcome.applied}; gate: {gate})")  # fmt: skip
        for warning in outcome.warnings:
            self.progress.line(f"warning: {warning}")
        return None

    def _rollback(self, route: Route, found: Verdict) -> Result:
        reason = f"promote: breach at {describe(route)}: {found.reason}"
        try:
            with _uninterrupted(deliver=False):  # the promotion ends here either way
                outcome = self.router.move("legacy", None, gated=False, reason=reason)
        except CutoverError as exc:
            raise CutoverError(
                f"breach at {describe(route)} ({found.reason}), but the rollback failed: {exc}; "
                f"run `cutover rollback {route.id}`",
                ExitCode.FAILED,
            ) from None
        self.progress.line(f"rollback: {route.id} {describe(outcome.before)} -> {describe(outcome.after)} "
                           f"({outcome.applied})")  # fmt: skip
        message = f"rolled {route.id} back from {describe(route)} to legacy: {found.reason}"
        return Result("rolled back", describe(outcome.after), message, ExitCode.FAILED)

    def _inconclusive(self, route: Route, found: Verdict, remaining: list[int]) -> Result:
        waited = self.interval * (1 + (0 if self.dry_run else self.config.max_waits))
        why = f"too little traffic in {waited:g} s ({found.reason})"
        if not self.dry_run:
            asked = requested(*_target(remaining[0])) if remaining else describe(route)
            self.router.record(
                route, asked, "inconclusive", f"promote: inconclusive at {describe(route)}: {why}"
            )
        prefix = "dry run: " if self.dry_run else ""
        message = f"{prefix}inconclusive: {why}; {route.id} left at {describe(route)}"
        return Result("dry run" if self.dry_run else "inconclusive", describe(route), message,
                      ExitCode.INCONCLUSIVE)  # fmt: skip

    def _dry_first(self, route: Route, percent: int) -> Result:
        asked = requested(*_target(percent))
        problem = self.router.gate_problem(route)
        if problem is not None:
            message = f"dry run: the move gate would refuse {route.id} -> {asked}: {problem}"
            return Result("dry run", describe(route), message, ExitCode.FAILED)
        message = (
            f"dry run: {route.id} is on legacy: the first step ({asked}) would be taken at once, gated by "
            "the move gate only (it would allow it); each later step after a healthy window"
        )
        return Result("dry run", describe(route), message, ExitCode.OK)

    def _watch(self, route: Route) -> Verdict:
        """Measure and judge ``route``'s current place: one interval, then more while traffic is short."""
        self.log.read()  # what came before (the previous share, the move itself) is not this window's
        start = self.wall()
        entries: list[Entry] = []
        waits = 0 if self.dry_run else self.config.max_waits
        found: Verdict | None = None
        for attempt in range(waits + 1):
            entries += self._measure(route, attempt)
            parity, shadow = self.readings(route, start)
            found = judge(window_of(entries, route.id), self.config, parity, shadow)
            waited = f" (waited {attempt} of {waits} more intervals)" if attempt else ""
            outcome = f"{found.outcome}: {found.reason}" if found.reasons else found.outcome
            self.progress.line(
                f"{describe(route)} window {attempt + 1}: {found.window.short()}{waited}: {outcome}"
            )
            if found.outcome != "waiting":
                return found
        assert found is not None
        return found

    def _measure(self, route: Route, attempt: int) -> list[Entry]:
        entries: list[Entry] = []
        deadline = self.clock() + self.interval
        while (left := deadline - self.clock()) > 0:
            self.progress.status(f"measuring {self.route_id} at {describe(route)}: {left:.0f} s left, "
                                 f"{len(entries)} requests so far (window {attempt + 1})")  # fmt: skip
            self.sleep(min(1.0, left))
            entries += self.log.read()
        return entries


def _target(percent: int) -> tuple[str, int | None]:
    return ("modern", None) if percent >= 100 else ("canary", percent)


@contextmanager
def _uninterrupted(*, deliver: bool = True) -> Iterator[None]:
    """Hold off Ctrl-C (and SIGTERM) while a move is made (a move is never half made), then deliver it as
    KeyboardInterrupt (``deliver``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught and deliver:
        raise KeyboardInterrupt


# -- the real parts ---------------------------------------------------------------------------------------


@dataclass
class LiveRouter:
    """The route in the manifest, moved through :func:`cutover.proxy.moves.move` (gate, live, audit)."""

    route_id: str
    manifest: Path
    door: FrontDoor
    actor: Actor
    audit_url: str
    project: ProjectConfig
    report: Path
    repo: Path

    def place(self) -> Route:
        return load_manifest(self.manifest).route(self.route_id)

    def move(self, mode: str, percent: int | None, *, gated: bool, reason: str) -> MoveOutcome:
        return move(
            self.route_id, mode, percent, manifest=self.manifest, door=self.door, actor=self.actor,
            audit_url=self.audit_url, project=self.project if gated else None,
            report=self.report if gated else None, repo=self.repo if gated else None, reason=reason,
        )  # fmt: skip

    def gate_problem(self, route: Route) -> str | None:
        """What the parity and shadow parts of the move gate would say about a step toward modern."""
        problem = why_not_green(route.id, self.report, self.repo)
        if problem is not None:
            return problem
        return shadow_verdict(self.project, route.id).problem

    def record(self, route: Route, asked: str, gate: str, reason: str) -> None:
        with open_audit(self.audit_url) as audit:
            audit.record(actor=self.actor.name, source=self.actor.source, route=route.id,
                         before=describe(route), after=describe(route), requested=asked,
                         outcome="unchanged", gate=gate, forced=False, reason=reason)  # fmt: skip


def live_readings(project: ProjectConfig, report: Path, repo: Path) -> Readings:
    """Parity for the code checked out now; the shadow comparisons since the window began, where shadowed."""

    def read(route: Route, since: float) -> tuple[Parity, Shadow | None]:
        found = verdict(report, route.id, repo=repo)
        parity = Parity(found.green, found.reason)
        if not route.shadow:
            return parity, None
        try:
            with ShadowStore(project.shadow.url, create=False) as store:
                summaries = store.summary(
                    route=route.id, since=since, thresholds=thresholds_of(project.shadow)
                )
        except StoreNotFound:
            return parity, Shadow(0, 0)
        summary = summaries[0] if summaries else None
        return parity, Shadow(summary.compared, summary.different) if summary else Shadow(0, 0)

    return read


__all__ = ["Ending", "LiveRouter", "Progress", "Promotion", "Result", "Router", "Source", "live_readings"]
