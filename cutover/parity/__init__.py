"""The parity engine: prove that the FastAPI port answers every case exactly as the Django app does.

One case flows through: reset the database to the fixture -> request to the legacy target -> capture
(status, whitelisted headers, JSON, changed rows) -> reset -> the same request to the modern target ->
capture -> normalise (documented rules) -> compare -> report (redacted). A session
(:mod:`.session`) sets it up from the project config; :mod:`.verdict` says whether a route is green for
the code checked out now.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cases import Auth, Case, CaseError, load_cases
    from .compare import Difference, Rule, load_rules
    from .runner import CaseResult, ParityRunner
    from .verdict import Revision, Verdict, current_revision

# Where each name lives, imported on first use (PEP 562): a ``--jobs`` job imports this package to reach
# its own module, and starts its database before the engine's imports (0.26 s) rather than after.
_HOMES = {
    "Auth": "cases", "Case": "cases", "CaseError": "cases", "load_cases": "cases",
    "Difference": "compare", "Rule": "compare", "load_rules": "compare",
    "CaseResult": "runner", "ParityRunner": "runner",
    "Revision": "verdict", "Verdict": "verdict", "current_revision": "verdict",
}  # fmt: skip

__all__ = [
    "Auth", "Case", "CaseError", "CaseResult", "Difference", "ParityRunner", "Revision", "Rule", "Verdict",
    "current_revision", "load_cases", "load_rules",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
