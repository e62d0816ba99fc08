"""The legacy's second run (for noise) is made where, and only where, the legacy and the port differ.

Noise only excuses a path where the two differ, so a case with no difference at all is decided without
it; a case that differs gets it, and what differs between two runs of the legacy is still told apart
from a mismatch.
"""

from __future__ import annotations

from typing import Any

import pytest

from cutover.parity.cases import load_cases
from cutover.parity.compare import load_rules
from cutover.parity.runner import ParityRunner
from cutover.parity.targets import Request, Response

from .conftest import CASES_DIR, RULES_FILE

pytestmark = pytest.mark.django_db

CASES = {c.key: c for c in load_cases(CASES_DIR)}


class Counting:
    """A target that counts the requests sent through it."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.sent = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def send(self, request: Request) -> Response:
        self.sent += 1
        return self.target.send(request)


@pytest.fixture
def counted(legacy_target, modern_target, parity_runner, django_db_blocker):
    legacy, modern = Counting(legacy_target), Counting(modern_target)
    runner = ParityRunner(legacy, modern, parity_runner.database, rules=load_rules(RULES_FILE))
    with django_db_blocker.unblock():
        yield runner, legacy, modern
    runner.close()


def test_a_case_where_nothing_differs_runs_the_legacy_once(counted):
    runner, legacy, modern = counted
    result = runner.run_case(CASES["users-me/token-alice"])
    assert (result.outcome, result.differences) == ("match", [])
    assert (legacy.sent, modern.sent) == (1, 1)


def test_a_difference_brings_the_noise_run_and_noise_is_told_from_a_mismatch(counted):
    runner, legacy, modern = counted
    # A new token: a random key in the body, different in every run of either app.
    result = runner.run_case(CASES["auth-token/new-token"])
    assert (legacy.sent, modern.sent) == (2, 1)
    assert result.outcome == "match", result.differences
    assert [d.path for d in result.noise] == ["body.token"]
    assert result.mismatches == []


def test_without_noise_detection_the_same_difference_is_a_mismatch(counted):
    runner, legacy, modern = counted
    runner.detect_noise = False
    result = runner.run_case(CASES["auth-token/new-token"])
    assert (legacy.sent, modern.sent) == (1, 1)
    assert result.outcome == "mismatch"
    assert [d.path for d in result.mismatches] == ["body.token"]
