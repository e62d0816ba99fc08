"""``cutover shadow report``'s engine: which store, which period, and the summaries as text or JSON.

The store does the counting and the thresholds (:mod:`.store`); this module only opens it without creating
anything (a report must never leave an empty store behind, nor DDL on a shared database) and renders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..config import ShadowConfig
from ..errors import CutoverError, one_line
from ..statedb import shown_url
from .store import RouteSummary, ShadowStore, StoreNotFound, Thresholds, engine_url

__all__ = ["as_json", "parse_duration", "percent", "read_summaries", "render", "store_url", "thresholds_of"]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
TOP_FIELDS = 10  # differing field paths shown as text; --json has them all
_VALUE_WIDTH = 60


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``2d``, ``1w`` in seconds."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise CutoverError(f"--since must be a duration like 90s, 30m, 1h or 2d, got {text!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def store_url(option: str | None, config: ShadowConfig) -> str:
    """The store to read: ``--store`` (a SQLAlchemy URL, or a path to a SQLite file), else the config's."""
    if not option:
        return config.url
    if "://" in option:
        return option
    return f"sqlite:///{Path(option).expanduser().absolute()}"


def thresholds_of(config: ShadowConfig) -> Thresholds:
    return Thresholds(absolute=config.absolute_threshold, relative=config.relative_threshold)


def read_summaries(
    url: str, *, route: str | None, since: float | None, thresholds: Thresholds
) -> list[RouteSummary]:
    """The summaries in the store at ``url``, opened for reading only.

    CutoverError (one line) for a store that is missing or unreachable, and for a ``route`` the store has
    no record of at all (a typo is not "no differences")."""
    try:
        engine_url(url, "a shadow store")
    except (ValueError, sa.exc.ArgumentError) as exc:
        raise CutoverError(f"--store: {exc}") from None
    shown = shown_url(url)
    try:
        with ShadowStore(url, create=False) as store:
            summaries = store.summary(route=route, since=since, thresholds=thresholds)
            if route is not None and not summaries and not store.summary(route=route):
                known = ", ".join(s.route for s in store.summary()) or "none"
                raise CutoverError(
                    f"no shadow record of route {route!r} in {shown} (routes recorded: {known})"
                )
    except StoreNotFound as exc:
        raise CutoverError(
            f"{exc}: nothing has been recorded there (see [shadow] store, or --store)"
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        raise CutoverError(f"cannot read the shadow store at {shown}: {one_line(exc)}") from None
    return summaries


def as_json(summaries: Sequence[RouteSummary], *, url: str, since: float | None) -> dict[str, Any]:
    """The report as data: the store (password hidden), the period's start, and every route's summary."""
    return {
        "store": shown_url(url),
        "since": since,
        "has_differences": any(s.has_differences for s in summaries),
        "routes": [s.as_dict() for s in summaries],
    }


def render(summaries: Sequence[RouteSummary]) -> list[str]:
    """The report as lines of plain text: per route its counts, noise, differing fields and examples."""
    lines: list[str] = []
    for summary in summaries:
        lines.extend(_route_lines(summary))
    differing = [s.route for s in summaries if s.has_differences]
    if differing:
        lines.append(f"differences on {len(differing)} of {len(summaries)} route(s): {', '.join(differing)}")
    else:
        lines.append(f"no differences beyond noise on {len(summaries)} route(s)")
    return lines


def _route_lines(s: RouteSummary) -> list[str]:
    lines = [
        f"{s.route}",
        f"  mirrored {s.mirrored}, compared {s.compared}, matched {s.matched}, different {s.different}, "
        f"noise {s.noise}, errors {s.errors}, dropped {s.dropped}",
    ]
    if s.noise_fields:
        lines.append("  noise: " + ", ".join(f"{f.path} {percent(f.secondary_rate)}" for f in s.noise_fields))
    if s.rare_fields:
        lines.append(
            "  below the thresholds: "
            + ", ".join(f"{f.path} {percent(f.candidate_rate)}" for f in s.rare_fields)
        )
    by_path = {f.path: f for f in s.fields}
    for d in s.differing[:TOP_FIELDS]:
        legacy = percent(by_path[d.path].secondary_rate)
        lines.append(
            f"  differs: {d.path}: {d.count} of {s.compared} ({percent(d.rate)}; the legacy against itself "
            f"{legacy})"
        )
        lines.extend(
            f"    {e.method} {e.target}: {_shown(e.primary)} -> {_shown(e.candidate)}" for e in d.examples
        )
    if len(s.differing) > TOP_FIELDS:
        lines.append(
            f"  ... and {len(s.differing) - TOP_FIELDS} more differing field path(s) (--json lists all)"
        )
    for e in s.recent_errors:
        lines.append(f"  error: {e.method} {e.target}: {e.error}")
    return lines


def percent(rate: float) -> str:
    """``100%``, ``12.5%``, ``0.04%``: two decimals at most, trailing zeros dropped."""
    if 0 < rate < 0.0001:
        return "<0.01%"
    text = f"{rate * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."
