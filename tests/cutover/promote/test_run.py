"""The promotion loop with its parts replaced (a route in memory, a scripted log, a clock that jumps): the
order of steps, judging before each, the rollback, waiting then inconclusive, a refused step, dry runs and
Ctrl-C. The same loop against a real nginx: test_promote_live.py."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from cutover.config import PromoteConfig
from cutover.errors import CutoverError
from cutover.metrics.access_log import Entry
from cutover.promote.judge import Parity
from cutover.promote.run import Promotion
from cutover.proxy.gate import MoveRefused
from cutover.proxy.manifest import Route
from cutover.proxy.moves import MoveOutcome

CONFIG = PromoteConfig(min_requests=10, max_waits=2)


@dataclass
class FakeRouter:
    route: Route
    moves: list[tuple[str, int | None, bool, str]] = field(default_factory=list)
    records: list[tuple[str, str, str]] = field(default_factory=list)
    refuse_at: int | None = None
    problem: str | None = None

    def place(self) -> Route:
        return self.route

    def move(self, mode, percent, *, gated, reason):
        if gated and self.refuse_at is not None and percent == self.refuse_at:
            raise MoveRefused(f"refusing to move 'users' to {mode}: shadow differences on body.email")
        before = self.route
        self.route = replace(self.route, mode=mode, percent=percent)
        self.moves.append((mode, percent, gated, reason))
        return MoveOutcome(before, self.route, (), (), "live", "nginx", None)

    def gate_problem(self, route):
        return self.problem

    def record(self, route, asked, gate, reason):
        self.records.append((asked, gate, reason))


class Traffic:
    """The log: each read returns the requests of the seconds slept since, on the route's current split."""

    def __init__(self, router: FakeRouter, per_second: int = 40) -> None:
        self.router, self.per_second = router, per_second
        self.pending = 0.0
        self.modern_status = 200
        self.modern_seconds = 0.01
        self.interrupt_after: float | None = None
        self.slept = 0.0
        self.sent = 0

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.pending += seconds
        if self.interrupt_after is not None and self.slept >= self.interrupt_after:
            raise KeyboardInterrupt

    def clock(self) -> float:
        return self.slept

    def read(self) -> list[Entry]:
        count, self.pending = int(self.pending * self.per_second), 0.0
        share = self.router.route.modern_share
        out = []
        for n in range(self.sent, self.sent + count):
            if (n * share) % 100 < share:  # share in every 100, spread out
                out.append(Entry(0, "users", "modern", "modern", self.modern_status, self.modern_seconds))
            else:
                out.append(Entry(0, "users", "legacy", "legacy", 200, 0.01))
        self.sent += count
        return out


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)

    def status(self, text: str) -> None:
        pass


def promotion(route: Route, steps=(25, 50, 100), per_second=40, dry_run=False, parity=True):
    router = FakeRouter(route)
    traffic = Traffic(router, per_second)
    lines = Lines()
    found = Parity(parity, "every case matched" if parity else "shows 'users' red")
    run = Promotion(
        "users", steps=steps, interval=5.0, config=CONFIG, router=router, log=traffic,
        readings=lambda route, since: (found, None), progress=lines, dry_run=dry_run,
        sleep=traffic.sleep, clock=traffic.clock, wall=traffic.clock,
    )  # fmt: skip
    return run, router, traffic, lines


LEGACY = Route("users", "exact", "/api/users/")


def test_a_healthy_route_steps_up_one_judged_window_at_a_time():
    run, router, traffic, lines = promotion(LEGACY)
    result = run.run()
    assert (result.ending, result.place, result.code) == ("promoted", "modern", 0)
    assert [(m, p, g) for m, p, g, _ in router.moves] == [
        ("canary", 25, True),
        ("canary", 50, True),
        ("modern", None, True),
    ]
    assert traffic.slept == 10.0  # the first step at once; one interval before each later step
    assert router.moves[0][3] == "promote step 1 of 3: legacy -> canary 25%"
    assert router.moves[1][3].startswith(
        "promote step 2 of 3: canary 25% -> canary 50% after a healthy window (legacy 150 req"
    )
    assert [line.split(":")[0] for line in lines.lines] == [
        "step 1/3",
        "canary 25% window 1",
        "step 2/3",
        "canary 50% window 1",
        "step 3/3",
    ]


def test_a_canary_already_under_way_is_judged_first_then_steps_above_its_share():
    run, router, traffic, _ = promotion(replace(LEGACY, mode="canary", percent=30))
    assert run.run().ending == "promoted"
    assert [p for _, p, _, _ in router.moves] == [50, None]
    assert traffic.slept == 10.0


def test_a_last_step_below_100_is_judged_and_the_route_stays_there():
    run, router, traffic, _ = promotion(LEGACY, steps=(10, 20))
    result = run.run()
    assert (result.ending, result.place) == ("promoted", "canary 20%")
    assert traffic.slept == 10.0


def test_a_breach_rolls_back_ungated_with_the_reason():
    run, router, traffic, lines = promotion(LEGACY)
    traffic.modern_status = 500
    result = run.run()
    assert (result.ending, result.place, result.code) == ("rolled back", "legacy", 1)
    (_, _, _, first), (mode, percent, gated, reason) = router.moves
    assert (mode, percent, gated) == ("legacy", None, False)
    assert reason.startswith("promote: breach at canary 25%: 5xx: modern 100.0% (50 of 50)")
    assert "rolled users back from canary 25% to legacy: 5xx" in result.message
    assert traffic.slept == 5.0  # within one interval


def test_red_parity_rolls_back_too():
    run, router, _, _ = promotion(replace(LEGACY, mode="canary", percent=25), parity=False)
    result = run.run()
    assert result.ending == "rolled back" and "parity not green: shows 'users' red" in result.message


def test_too_little_traffic_waits_then_ends_inconclusive_where_it_is():
    run, router, traffic, lines = promotion(replace(LEGACY, mode="canary", percent=25), per_second=1)
    result = run.run()
    assert (result.ending, result.place, result.code) == ("inconclusive", "canary 25%", 3)
    assert router.moves == [] and traffic.slept == 15.0  # one interval and max_waits = 2 more
    assert "too little traffic in 15 s (modern answered 4 of the 10 requests needed)" in result.message
    assert router.records == [
        (
            "canary 50%",
            "inconclusive",
            "promote: inconclusive at canary 25%: " + result.message.split("inconclusive: ")[1].split(";")[0],
        )
    ]
    assert lines.lines[-1].endswith(
        "(waited 2 of 2 more intervals): waiting: modern answered 4 of the 10 requests needed"
    )


def test_traffic_that_arrives_while_waiting_is_judged_with_what_came_before():
    run, router, traffic, _ = promotion(
        replace(LEGACY, mode="canary", percent=50), steps=(50, 100), per_second=3
    )
    # 7.5 modern requests per interval: short after one, enough (15) once the window grew by one more
    assert run.run().ending == "promoted"
    assert traffic.slept == 10.0


def test_a_refused_step_stops_where_the_route_was():
    run, router, _, _ = promotion(LEGACY)
    router.refuse_at = 50
    result = run.run()
    assert (result.ending, result.place, result.code) == ("refused", "canary 25%", 1)
    assert "shadow differences on body.email" in result.message


def test_nothing_to_do_on_modern_or_at_the_last_step():
    run, router, _, _ = promotion(replace(LEGACY, mode="modern"))
    assert (run.run().ending, router.moves) == ("nothing to do", [])
    run, router, _, _ = promotion(replace(LEGACY, mode="canary", percent=60), steps=(10, 50))
    result = run.run()
    assert (result.ending, result.code, router.moves) == ("nothing to do", 0, [])
    assert "at or above the last step (50%)" in result.message


def test_a_pinned_route_is_refused_before_anything():
    for dry_run in (False, True):
        run, router, traffic, _ = promotion(replace(LEGACY, pinned=True), dry_run=dry_run)
        with pytest.raises(CutoverError, match="route 'users' is pinned to legacy and cannot move"):
            run.run()
        assert router.moves == [] and traffic.slept == 0


def test_a_dry_run_judges_one_window_and_moves_nothing():
    run, router, traffic, _ = promotion(replace(LEGACY, mode="canary", percent=25), dry_run=True)
    result = run.run()
    assert (result.ending, result.code) == ("dry run", 0)
    assert result.message == "dry run: healthy; would move users from canary 25% to canary 50%"
    assert router.moves == [] and router.records == [] and traffic.slept == 5.0
    run, router, traffic, _ = promotion(replace(LEGACY, mode="canary", percent=25), dry_run=True)
    traffic.modern_seconds = 1.0
    result = run.run()
    assert (result.ending, result.code, router.moves) == ("dry run", 1, [])
    assert result.message.startswith("dry run: would roll users back from canary 25% to legacy: p99")
    run, router, traffic, _ = promotion(
        replace(LEGACY, mode="canary", percent=25), dry_run=True, per_second=1
    )
    result = run.run()
    assert (result.code, router.records, traffic.slept) == (3, [], 5.0)


def test_a_dry_run_on_legacy_reads_the_gate():
    run, router, traffic, _ = promotion(LEGACY, dry_run=True)
    result = run.run()
    assert result.code == 0 and "the first step (canary 25%) would be taken at once" in result.message
    run, router, traffic, _ = promotion(LEGACY, dry_run=True)
    router.problem = "shows 'users' red"
    result = run.run()
    assert (
        result.code == 1
        and result.message == "dry run: the move gate would refuse users -> canary 25%: shows 'users' red"
    )
    assert router.moves == [] and traffic.slept == 0


def test_ctrl_c_while_measuring_leaves_the_route_at_the_last_completed_step():
    run, router, traffic, _ = promotion(LEGACY)
    traffic.interrupt_after = 7.0  # in the window of the second step
    result = run.run()
    assert (result.ending, result.place, result.code) == ("interrupted", "canary 50%", 130)
    assert result.message == "interrupted: users left at canary 50% (the last completed step)"
    assert len(router.moves) == 2
    run, router, traffic, _ = promotion(replace(LEGACY, mode="canary", percent=25))
    traffic.interrupt_after = 1.0
    result = run.run()
    assert result.message == "interrupted: users left at canary 25% (where it was; no step completed)"


def test_a_move_made_by_someone_else_meanwhile_stops_the_promotion():
    run, router, traffic, _ = promotion(LEGACY)
    sleep = traffic.sleep

    def rolled_back_by_hand(seconds: float) -> None:
        sleep(seconds)
        if traffic.slept >= 3:
            router.route = replace(router.route, mode="legacy", percent=None)

    run.sleep = rolled_back_by_hand
    result = run.run()
    assert (result.ending, result.place, result.code) == ("refused", "legacy", 1)
    assert result.message == (
        "users was moved from canary 25% to legacy while its window was measured (another move): "
        "the promotion stops there"
    )
    assert len(router.moves) == 1


def test_a_rollback_that_fails_says_so_with_the_breach():
    run, router, traffic, _ = promotion(replace(LEGACY, mode="canary", percent=25))
    traffic.modern_status = 500

    def broken(mode, percent, *, gated, reason):
        raise CutoverError("cannot reach nginx's live endpoint")

    router.move = broken
    with pytest.raises(CutoverError) as raised:
        run.run()
    assert raised.value.code == 1
    assert str(raised.value).startswith("breach at canary 25% (5xx: modern 100.0% (50 of 50)")
    assert str(raised.value).endswith(
        "but the rollback failed: cannot reach nginx's live endpoint; run `cutover rollback users`"
    )


def test_ctrl_c_during_a_move_is_delivered_once_the_move_is_made():
    import os
    import signal

    run, router, traffic, _ = promotion(replace(LEGACY, mode="canary", percent=25))
    move = router.move

    def interrupted_midway(mode, percent, *, gated, reason):
        os.kill(os.getpid(), signal.SIGINT)  # held off: the move goes on
        return move(mode, percent, gated=gated, reason=reason)

    router.move = interrupted_midway
    handler = signal.getsignal(signal.SIGINT)
    result = run.run()
    assert result.message == "interrupted: users left at canary 50% (the last completed step)"
    assert [p for _, p, _, _ in router.moves] == [50]
    assert signal.getsignal(signal.SIGINT) is handler  # put back
