"""The engine catches real differences: altered modern apps must be reported, on the right route only.

Each alteration wraps an app in a small ASGI middleware that changes one thing on one route, the way a
porting mistake would: a field renamed, a status code changed, a datetime rendered differently, a row
written with a different default, a list's order changed. Two bases are altered: the legacy itself served
over ASGI (a control known to be identical, so the expectation is exact) and the real FastAPI port (where
what counts is what the alteration adds to the port's own differences, if any).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cutover.parity.cases import Case, load_cases
from cutover.parity.runner import CaseResult, ParityRunner
from cutover.parity.targets import ASGITarget, WSGITarget, django_wsgi_target

from . import apps
from .conftest import CASES_DIR

pytestmark = pytest.mark.django_db

# One case per route, plus a sign-up (a write): what each alteration run goes through.
PROBES = (
    "users-me/token-alice",
    "users/list-first-page",
    "users/signup-ok",
    "user-detail/get-self",
    "auth-token/missing-password",  # no password hashing: the probes stay quick
)


@pytest.fixture(scope="module")
def probes() -> list[Case]:
    by_key = {c.key: c for c in load_cases(CASES_DIR)}
    return [by_key[key] for key in PROBES]


Run = Callable[[Any], dict[str, CaseResult]]


@pytest.fixture(scope="module")
def run_against(legacy_target: WSGITarget, parity_database, probes, django_db_blocker) -> Run:
    def run(app: Any) -> dict[str, CaseResult]:
        # Module-scoped callers (the base fixture) run before a test's own database access is granted.
        with django_db_blocker.unblock():
            target = ASGITarget(app, "altered", origin=legacy_target.origin)
            try:
                # No noise runs: every probe is deterministic once normalised (time, hashes), and the
                # alterations must show as mismatches, never be excused as noise.
                runner = ParityRunner(legacy_target, target, parity_database, detect_noise=False)
                return {case.key: runner.run_case(case) for case in probes}
            finally:
                target.close()

    return run


BASES = {"legacy-over-asgi": apps.legacy_asgi_app, "fastapi-port": apps.modern_app}


@pytest.fixture(scope="module", params=list(BASES))
def base(request, run_against) -> Iterator[tuple[Callable[[], Any], dict[str, CaseResult]]]:
    factory = BASES[request.param]
    yield factory, run_against(factory())


def _paths(result: CaseResult) -> set[str]:
    return {d.path for d in result.mismatches}


def _added(altered: dict[str, CaseResult], baseline: dict[str, CaseResult]) -> dict[str, set[str]]:
    """Per case, the mismatch paths the alteration added to those of the unaltered base."""
    return {
        key: _paths(result) - _paths(baseline[key])
        for key, result in altered.items()
        if _paths(result) - _paths(baseline[key])
    }


def test_the_control_matches_everywhere(run_against):
    results = run_against(apps.legacy_asgi_app())
    assert {k: r.outcome for k, r in results.items()} == dict.fromkeys(PROBES, "match")


def test_legacy_against_itself_over_wsgi_matches(legacy_target, parity_database, probes):
    other = django_wsgi_target("legacy-again", origin=legacy_target.origin)
    try:
        runner = ParityRunner(legacy_target, other, parity_database)
        assert [runner.run_case(c).outcome for c in probes] == ["match"] * len(probes)
    finally:
        other.close()


def test_a_renamed_field_is_a_mismatch_on_users_me(base, run_against):
    factory, baseline = base
    added = _added(run_against(apps.RenamedField(factory())), baseline)
    assert set(added) == {"users-me/token-alice"}
    assert {"body.username", "body.user_name"} <= added["users-me/token-alice"]


def test_a_changed_status_code_is_a_mismatch_on_users(base, run_against):
    factory, baseline = base
    results = run_against(apps.ChangedStatus(factory()))
    added = _added(results, baseline)
    assert set(added) == {"users/signup-ok"}
    assert added["users/signup-ok"] == {"status"}
    assert results["users/signup-ok"].outcome == "mismatch"


def test_a_datetime_rendered_differently_is_a_mismatch_on_user_detail(base, run_against):
    factory, baseline = base
    added = _added(run_against(apps.DatetimeRendering(factory())), baseline)
    assert set(added) == {"user-detail/get-self"}
    assert added["user-detail/get-self"] == {"body.date_joined", "body.last_login"}


def test_a_datetime_written_now_keeps_its_format_in_the_comparison(base, run_against):
    # A sign-up's date_joined is "now" (normalised for the clock), but its rendering is still compared.
    factory, baseline = base
    added = _added(run_against(apps.DatetimeRendering(factory(), path=r"/api/users/")), baseline)
    assert set(added) == {"users/signup-ok", "users/list-first-page"}
    assert "body.date_joined" in added["users/signup-ok"]


def test_a_row_written_with_another_default_is_a_mismatch_on_users(
    base, run_against, parity_database, parity_database_url
):
    factory, baseline = base
    results = run_against(apps.InactiveByDefault(factory(), parity_database_url))
    added = _added(results, baseline)
    # Only the row differs: the response is the same, so only the side-effect comparison can see it.
    next_id = parity_database.fixture.next_id("users")
    assert added == {"users/signup-ok": {f"rows.users.{next_id}.row.is_active"}}


def test_a_list_in_another_order_is_a_mismatch_on_users(base, run_against):
    factory, baseline = base
    added = _added(run_against(apps.ReversedList(factory())), baseline)
    assert set(added) == {"users/list-first-page"}
    assert "body.results[0].id" in added["users/list-first-page"]


def test_the_port_answers_the_probes_like_the_legacy(base):
    # Not an engine property but the port's: reported here too so a broken probe is visible at once.
    factory, baseline = base
    mismatched = {k: sorted(_paths(r)) or r.error for k, r in baseline.items() if r.outcome != "match"}
    assert mismatched == {}


def _hash(password: str, iterations: int | None = None) -> str:
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    return hasher.encode(password, hasher.salt(), iterations=iterations)


SENT = "a-long-unusual-passphrase-42"  # the password of users/signup-ok


@pytest.mark.parametrize(
    ("assignment", "params", "column"),
    [
        # Same password, fewer iterations: verifies, but is not what Django writes.
        ("password = %s", lambda: (_hash(SENT, 600_000),), "password.iterations"),
        # Another password in the right format: the hash strings always differ, the verification tells.
        ("password = %s", lambda: (_hash("not-what-was-sent-42"),), "password.verifies"),
        # A timestamp far from "now" is not excused by the tolerance given to "now".
        ("date_joined = %s", lambda: ("2000-01-01T00:00:00Z",), "date_joined"),
    ],
)
def test_written_rows_are_compared_by_meaning(
    base, run_against, parity_database, parity_database_url, assignment, params, column
):
    factory, baseline = base
    altered = apps.RewrittenSignupRow(factory(), parity_database_url, assignment, *params())
    added = _added(run_against(altered), baseline)
    next_id = parity_database.fixture.next_id("users")
    assert added == {"users/signup-ok": {f"rows.users.{next_id}.row.{column}"}}
