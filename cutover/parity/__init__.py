"""The parity engine: prove that the FastAPI port answers every case exactly as the Django app does.

One case flows through: reset the database to the fixture -> request to the legacy target -> capture
(status, whitelisted headers, JSON, changed rows) -> reset -> the same request to the modern target ->
capture -> normalise (documented rules) -> compare -> report (redacted).
"""

from __future__ import annotations

from .cases import Auth, Case, CaseError, load_cases
from .compare import Difference, Rule, load_rules
from .report import ROUTE_IDS, RouteStatus, latest_status
from .runner import CaseResult, ParityRunner

__all__ = [
    "ROUTE_IDS",
    "Auth",
    "Case",
    "CaseError",
    "CaseResult",
    "Difference",
    "ParityRunner",
    "RouteStatus",
    "Rule",
    "latest_status",
    "load_cases",
    "load_rules",
]
