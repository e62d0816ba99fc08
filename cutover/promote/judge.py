"""The judgement of one promotion window, pure: figures in, a verdict out (docs/promote.md).

One window of one route: what legacy and modern answered on it over the same seconds, the route's parity
verdict and, where it is shadowed, the shadow comparisons of the window. The modern passes when

- parity is green for the code checked out now,
- shadow comparisons differ no more often than ``max_shadow_different_rate`` (where the route is shadowed),
- both sides answered at least ``min_requests`` (else: not enough traffic to judge, the caller waits),
- its 5xx share exceeds legacy's by at most ``max_error_rate_increase``,
- its p99 is at most ``legacy p99 * max_p99_ratio + p99_slack``.

Sides are counted by the backend the front door *meant* a request for (the canary's split), not by the one
that answered: a request meant for modern that failed over to legacy (modern unreachable) is modern's
failure, counted as one of its errors and with its time (the failed attempt plus legacy's answer) in
modern's p99; it is left out of legacy's figures, which would otherwise grow with modern's failures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..config import PromoteConfig
from ..metrics.access_log import Entry
from ..metrics.windows import quantile

Outcome = Literal["healthy", "breach", "waiting"]


@dataclass(frozen=True)
class Side:
    """One backend's answers on the route in the window."""

    requests: int = 0
    errors: int = 0  # 5xx answers, and for modern its failovers to legacy
    p99: float | None = None  # seconds
    failovers: int = 0  # modern only: answered by legacy instead

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def short(self) -> str:
        p99 = "-" if self.p99 is None else f"{self.p99 * 1000:.0f} ms"
        failovers = f", {self.failovers} failovers" if self.failovers else ""
        return f"{self.requests} req, 5xx {self.error_rate:.1%}{failovers}, p99 {p99}"


@dataclass(frozen=True)
class Window:
    """What legacy and modern answered on one route over one window."""

    legacy: Side
    modern: Side

    def short(self) -> str:
        return f"legacy {self.legacy.short()}; modern {self.modern.short()}"


def window_of(entries: Iterable[Entry], route: str) -> Window:
    """The route's figures from access-log entries, split by the intended backend (see the module doc)."""
    times: dict[str, list[float]] = {"legacy": [], "modern": []}
    errors = {"legacy": 0, "modern": 0}
    failovers = 0
    for entry in entries:
        if entry.route != route or entry.backend not in times:
            continue
        side = entry.backend
        times[side].append(entry.seconds)
        failed_over = side == "modern" and entry.served_by == "legacy"
        failovers += failed_over
        errors[side] += entry.status >= 500 or failed_over
    legacy, modern = (sorted(times[s]) for s in ("legacy", "modern"))
    return Window(
        Side(len(legacy), errors["legacy"], quantile(legacy, 0.99)),
        Side(len(modern), errors["modern"], quantile(modern, 0.99), failovers),
    )


@dataclass(frozen=True)
class Shadow:
    """The route's shadow comparisons in the window."""

    compared: int
    different: int

    @property
    def different_rate(self) -> float:
        return self.different / self.compared if self.compared else 0.0


@dataclass(frozen=True)
class Parity:
    green: bool
    reason: str  # the verdict's reason: why not green, or what green means


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reasons: tuple[str, ...]  # a breach's breaches, or what traffic is missing; empty when healthy
    window: Window

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def judge(window: Window, config: PromoteConfig, parity: Parity, shadow: Shadow | None = None) -> Verdict:
    """Healthy, a breach (with every threshold it crossed), or waiting (too few requests to judge).

    Parity and shadow breaches need no traffic: a red parity verdict is a breach in an empty window too.
    """
    breaches = []
    if not parity.green:
        breaches.append(f"parity not green: {parity.reason}")
    if shadow is not None and shadow.different_rate > config.max_shadow_different_rate:
        breaches.append(
            f"shadow: {shadow.different} of {shadow.compared} comparisons differ "
            f"({shadow.different_rate:.1%}, at most {config.max_shadow_different_rate:.1%})"
        )
    legacy, modern = window.legacy, window.modern
    short = [
        f"{name} answered {side.requests} of the {config.min_requests} requests needed"
        for name, side in (("legacy", legacy), ("modern", modern))
        if side.requests < config.min_requests
    ]
    if short and not breaches:
        return Verdict("waiting", tuple(short), window)
    if not short:
        increase = modern.error_rate - legacy.error_rate
        if increase > config.max_error_rate_increase + 1e-12:  # a float's rounding is not a breach
            failovers = f", {modern.failovers} of them failovers" if modern.failovers else ""
            breaches.append(
                f"5xx: modern {modern.error_rate:.1%} ({modern.errors} of {modern.requests}{failovers}) "
                f"against legacy {legacy.error_rate:.1%} ({legacy.errors} of {legacy.requests}), "
                f"more than {config.max_error_rate_increase:.1%} above"
            )
        if modern.p99 is not None and legacy.p99 is not None:
            limit = legacy.p99 * config.max_p99_ratio + config.p99_slack
            if modern.p99 > limit + 1e-9:
                breaches.append(
                    f"p99: modern {modern.p99 * 1000:.0f} ms against legacy {legacy.p99 * 1000:.0f} ms, "
                    f"above {config.max_p99_ratio:g} x legacy + {config.p99_slack * 1000:.0f} ms "
                    f"= {limit * 1000:.0f} ms"
                )
    if breaches:
        return Verdict("breach", tuple(breaches), window)
    return Verdict("healthy", (), window)


__all__ = ["Outcome", "Parity", "Shadow", "Side", "Verdict", "Window", "judge", "window_of"]
