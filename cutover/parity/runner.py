"""Run cases: reset -> legacy -> capture -> reset -> modern -> capture -> compare, and where anything
differs, reset -> legacy again (for noise) -> compare again. One :class:`CaseResult` per case.

Each exchange is normalised on a thread of the runner's own while the next one is sent: normalising a
written password hash means verifying it (PBKDF2 at Django's default 10^6 iterations, a fifth of a second,
with the GIL released), which then runs beside the next request instead of before it. Each exchange is
still captured alone, in order, from its own reset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from .capture import Observation, build_request, observe
from .cases import Case, CaseError
from .compare import Difference, Rule, diff_paths, differences
from .fixture import Fixture, FixtureDatabase, Snapshot
from .identities import IdentityError
from .targets import Target

__all__ = ["CaseResult", "ParityRunner"]

Outcome = Literal["match", "mismatch", "error"]


@dataclass
class CaseResult:
    """How one case went: ``match`` only when nothing differed but noise and ruled-out paths."""

    case: Case
    outcome: Outcome
    differences: list[Difference] = field(default_factory=list)
    legacy: Observation | None = None
    modern: Observation | None = None
    error: str = ""

    @property
    def mismatches(self) -> list[Difference]:
        return [d for d in self.differences if d.kind == "mismatch"]

    @property
    def noise(self) -> list[Difference]:
        return [d for d in self.differences if d.kind == "noise"]

    @property
    def ignored(self) -> list[Difference]:
        return [d for d in self.differences if d.kind == "ignored"]

    @property
    def matched(self) -> bool:
        return self.outcome == "match"


class ParityRunner:
    """Runs cases against a legacy and a modern target from the same database state.

    ``database`` is the database both targets use; without one (live servers, no reset URL given) no
    state is reset or captured, so only safe-method cases may run, with the credentials ``fixture`` holds.
    """

    def __init__(
        self,
        legacy: Target,
        modern: Target,
        database: FixtureDatabase | None,
        *,
        rules: Sequence[Rule] = (),
        detect_noise: bool = True,
        fixture: Fixture | None = None,
    ) -> None:
        self.legacy = legacy
        self.modern = modern
        self.database = database
        self.rules = list(rules)
        self.detect_noise = detect_noise
        if database is None and fixture is None:
            raise ValueError("a runner without a database needs the fixture's credentials")
        self.fixture: Fixture = database.fixture if database is not None else fixture  # type: ignore[assignment]
        self._pool: ThreadPoolExecutor | None = None

    def prepare(self, cases: Iterable[Case]) -> list[Case]:
        """The cases as they will run (hooks applied), their credentials minted, refused before any runs.

        CaseError for a case this runner cannot run faithfully or a hook that fails; IdentityError for an
        identity that cannot be had (a user not in the fixture, an unknown scheme).
        """
        prepared = [case.prepared(self.fixture) for case in cases]
        for case in prepared:
            if self.database is None and not case.safe:
                raise CaseError(f"{case.key}: {case.method} changes state and no database to reset was given")
        identified = [c for c in prepared if not c.auth.anonymous and c.auth.user]
        if self.database is not None:
            try:
                self.database.mint([(c.auth.scheme, c.auth.user) for c in identified])  # type: ignore[misc]
            except IdentityError as exc:
                # Identities are minted in the cases' order: the first case still without its credential
                # is the one whose identity failed (an anonymous case has none to fail).
                failed = self._without_credential(identified)
                raise IdentityError(f"{failed.key}: {exc}" if failed is not None else str(exc)) from None
        else:
            missing = self._without_credential(identified)
            if missing is not None:
                raise IdentityError(f"{missing.key}: no credential for {missing.auth} was given")
        return prepared

    def _without_credential(self, cases: list[Case]) -> Case | None:
        held = self.fixture.credentials
        return next((c for c in cases if (c.auth.scheme, c.auth.user) not in held), None)

    def check(self, cases: Iterable[Case]) -> None:
        """Refuse cases this runner cannot run faithfully, before running any (CaseError, IdentityError)."""
        self.prepare(cases)

    def run(
        self, cases: Sequence[Case], on_result: Callable[[CaseResult], Any] | None = None
    ) -> list[CaseResult]:
        """Run every case in order; ``on_result`` is called after each (a progress bar, say)."""
        cases = self.prepare(cases)
        results = []
        try:
            for case in cases:
                result = self.run_case(case)
                results.append(result)
                if on_result is not None:
                    on_result(result)
        finally:
            self.close()
        return results

    def run_case(self, case: Case) -> CaseResult:
        """One case, both targets, compared.

        The legacy's second run (for noise) is made only when the first comparison found a difference:
        noise only ever excuses a path where the legacy and the modern differ, so where nothing differs
        it could change nothing in the result, and a case that matches costs two requests instead of
        three (a sign-up, two password hashes instead of three).
        """
        pending: list[Future[Observation]] = []
        try:
            case = case.prepared(self.fixture)
            pending = [self._observe(self.legacy, case), self._observe(self.modern, case)]
            first, modern = (f.result() for f in pending)
            found = differences(case, first.data, modern.data, rules=self.rules)
            if found and self.detect_noise and case.detect_noise:
                pending = [self._observe(self.legacy, case)]
                second = pending[0].result()
                noise = [d.path for d in diff_paths(first.data, second.data)]
                found = differences(case, first.data, modern.data, noise=noise, rules=self.rules)
        except Exception as exc:  # a transport failure or a broken setup: the case cannot be judged
            for future in pending:
                future.cancel()
            return CaseResult(case, "error", error=f"{type(exc).__name__}: {exc}")
        outcome: Outcome = "mismatch" if any(d.kind == "mismatch" for d in found) else "match"
        return CaseResult(case, outcome, found, first, modern)

    def _observe(self, target: Target, case: Case) -> Future[Observation]:
        """Send ``case`` to ``target`` from its own reset and capture it now; normalise it on the side."""
        request = build_request(case, self.fixture)
        before: Snapshot = {}
        if self.database is not None:
            self.database.reset(case.setup_sql)
            # Without setup SQL the state before the request is the fixture's own, as read when it was loaded.
            before = self.database.snapshot() if case.setup_sql else self.database.fixture.rows
        response = target.send(request)
        after = self.database.snapshot() if self.database is not None else {}
        return self._normaliser.submit(observe, case, target, request, response, before, after, self.fixture)

    @property
    def _normaliser(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parity-normalise")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
