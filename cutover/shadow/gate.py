"""The shadow part of the move gate: when the config asks for it (``[gate] shadow_min_compared``), a route
moves toward modern only with enough shadow comparisons recorded and no reported difference.

What it reads is ``cutover shadow report``'s summary of the route, over everything the store holds, with
the ``[shadow]`` thresholds: the same answer the report gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ProjectConfig
from .report import thresholds_of
from .store import ShadowStore, StoreNotFound


@dataclass(frozen=True)
class ShadowVerdict:
    used: bool  # False: the config does not ask for shadow results
    problem: str | None  # why the route may not move toward modern; None: it may
    summary: str  # what was read, for the move's output


def shadow_verdict(project: ProjectConfig, route_id: str, store_url: str | None = None) -> ShadowVerdict:
    gate = project.gate
    if gate.shadow_min_compared is None:
        return ShadowVerdict(False, None, "shadow: not part of the gate ([gate] shadow_min_compared unset)")
    try:
        # Read only: the gate never creates a store, nor tables on a shared database.
        with ShadowStore(store_url or project.shadow.url, create=False) as store:
            found = store.summary(route=route_id, thresholds=thresholds_of(project.shadow))
    except StoreNotFound as exc:
        problem = f"no shadow comparisons recorded ({exc})"
        return ShadowVerdict(True, problem, f"shadow: {problem}")
    if not found:
        return ShadowVerdict(True, "no shadow comparisons recorded for it", "shadow: none recorded")
    summary = found[0]
    rate = summary.different / summary.compared if summary.compared else 0.0
    figures = (
        f"shadow: {summary.compared} compared, {summary.different} different ({rate:.2%}), "
        f"{summary.errors} errors, {summary.dropped} dropped"
    )
    if summary.compared < gate.shadow_min_compared:
        need = gate.shadow_min_compared
        return ShadowVerdict(
            True, f"only {summary.compared} shadow comparisons of the {need} needed", figures
        )
    if summary.has_differences:
        fields = ", ".join(f.path for f in summary.differing[:3])
        return ShadowVerdict(True, f"shadow differences on {fields}", figures)
    if rate > gate.shadow_max_different_rate:
        limit = gate.shadow_max_different_rate
        return ShadowVerdict(True, f"{rate:.2%} of shadow comparisons differ (at most {limit:.2%})", figures)
    return ShadowVerdict(True, None, figures)


__all__ = ["ShadowVerdict", "shadow_verdict"]
