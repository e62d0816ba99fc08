"""The parity suite: every case of tests/parity/cases and the generated ones, legacy vs the FastAPI port.

One test per case (its id is ``<route>/<case id>``), so a failure names the case and prints the diff.
``PARITY_GENERATED`` (default 40) and ``PARITY_SEED`` choose the generated cases; raise the count to
search harder, e.g. ``PARITY_GENERATED=500 pytest tests/parity/test_suite.py``.
"""

from __future__ import annotations

import os

import pytest

from cutover.parity.cases import load_cases
from cutover.parity.generated import generated_cases
from cutover.parity.render import render_result
from cutover.proxy.manifest import load_manifest

from .conftest import CASES_DIR, PROJECT

pytestmark = pytest.mark.django_db

GENERATED = int(os.environ.get("PARITY_GENERATED", "40"))
SEED = int(os.environ.get("PARITY_SEED", "20261128"))

CASES = load_cases(CASES_DIR)
ROUTES = load_manifest(PROJECT.proxy.manifest).routes
# The written cases' identities, as `cutover parity` draws them.
GENERATED_CASES = generated_cases(
    GENERATED, SEED, routes=ROUTES, identities=sorted({c.auth for c in CASES}, key=str)
).cases


def test_the_suite_covers_every_route_with_at_least_100_cases():
    assert len(CASES) >= 100
    assert {c.route for c in CASES} == {"auth-token", "users", "user-detail", "users-me"}
    assert len(GENERATED_CASES) == GENERATED


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_case(case, parity_runner, redactor):
    result = parity_runner.run_case(case)
    assert result.outcome == "match", render_result(result, redactor)


@pytest.mark.parametrize("case", GENERATED_CASES, ids=[c.key for c in GENERATED_CASES])
def test_generated_case(case, parity_runner, redactor):
    result = parity_runner.run_case(case)
    assert result.outcome == "match", render_result(result, redactor)
