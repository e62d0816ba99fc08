"""Readable text for a case result: what was sent, and each place the two apps differed."""

from __future__ import annotations

import json
from typing import Any

from .redact import Redactor
from .runner import CaseResult

__all__ = ["render_result"]


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
