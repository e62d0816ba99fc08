"""The parity engine: prove that the FastAPI port answers every case exactly as the Django app does.

One case flows through: reset the database to the fixture -> request to the legacy target -> capture
(status, whitelisted headers, JSON, changed rows) -> reset -> the same request to the modern target ->
capture -> normalise (documented rules) -> compare -> report (redacted). A session
(:mod:`.session`) sets it up from the project config; :mod:`.verdict` says whether a route is green for
the code checked out now.
"""

from __future__ import annotations

from .cases import Auth, Case, CaseError, load_cases
from .compare import Difference, Rule, load_rules
from .runner import CaseResult, ParityRunner
from .verdict import Revision, Verdict, current_revision, verdict

__all__ = [
    "Auth",
    "Case",
    "CaseError",
    "CaseResult",
    "Difference",
    "ParityRunner",
    "Revision",
    "Rule",
    "Verdict",
    "current_revision",
    "load_cases",
    "load_rules",
    "verdict",
]
