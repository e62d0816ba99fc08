"""Readable text for a case result: what was sent, each place the two apps differed, what blocked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .blocking import BlockingCall, summary
from .cases import Case
from .redact import Redactor
from .runner import CaseResult

__all__ = ["render_blocking", "render_result"]


def _show(value: Any) -> str:
    if isinstance(value, str) and value == "<absent>":
        return value
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 400 else text[:397] + "..."


def render_result(result: CaseResult, redactor: Redactor) -> str:
    """The case, its request, and every mismatch as ``path: legacy -> modern`` (redacted)."""
    case = result.case
    lines = [f"{case.key}: {redactor.text(case.describe())}"]
    if case.description:
        lines.append(f"  {case.description}")
    if result.error:
        lines.append(f"  error: {redactor.text(result.error)}")
    for d in result.mismatches:
        legacy, modern = redactor.at(d.path, d.legacy), redactor.at(d.path, d.modern)
        # Masked secrets may print alike although they differ: say so.
        masked = legacy == modern
        lines.append(f"  {d.path}")
        lines.append(f"    legacy: {_show(legacy)}")
        lines.append(f"    modern: {_show(modern)}" + ("  (secret values differ)" if masked else ""))
    for d in result.ignored:
        lines.append(f"  ignored {d.path}: {d.reason}")
    return "\n".join(lines)


def render_blocking(case: Case, calls: Sequence[BlockingCall], redactor: Redactor) -> str:
    """The case, and what blocked the modern app's event loop while it ran: one line per function and
    frame (``x3`` when it happened three times; the longest hold)."""
    lines = [f"{case.key}: {redactor.text(case.describe())}"]
    for call, count, longest in summary(list(calls)):
        times = f" (x{count}, the longest)" if count > 1 else ""
        shown = replace(call, held=longest).describe()
        lines.append(f"  blocked the event loop: {redactor.text(shown)}{times}")
    return "\n".join(lines)
