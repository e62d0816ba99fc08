"""The window judge: each threshold, its edges, too little traffic on either side, failovers."""

from __future__ import annotations

from cutover.config import PromoteConfig
from cutover.metrics.access_log import Entry
from cutover.promote.judge import Parity, Shadow, Side, Window, judge, window_of

CONFIG = PromoteConfig(min_requests=50)
GREEN = Parity(True, "every case matched on this revision")


def side(requests: int = 100, errors: int = 0, p99: float = 0.010, failovers: int = 0) -> Side:
    return Side(requests, errors, p99, failovers)


def verdict(legacy: Side, modern: Side, config: PromoteConfig = CONFIG, parity: Parity = GREEN, shadow=None):
    return judge(Window(legacy, modern), config, parity, shadow)


def test_a_modern_like_legacy_is_healthy():
    found = verdict(side(errors=1), side(errors=1))
    assert (found.outcome, found.reasons) == ("healthy", ())


def test_the_error_rate_may_exceed_legacys_by_the_threshold_and_no_more():
    assert verdict(side(1000, 10), side(1000, 20)).outcome == "healthy"  # 1.0% -> 2.0%: exactly +1 point
    found = verdict(side(1000, 10), side(1000, 21))
    assert found.outcome == "breach"
    assert (
        found.reason == "5xx: modern 2.1% (21 of 1000) against legacy 1.0% (10 of 1000), more than 1.0% above"
    )


def test_legacy_without_errors_is_a_zero_baseline():
    assert verdict(side(200, 0), side(200, 2)).outcome == "healthy"  # 1.0%
    assert verdict(side(200, 0), side(200, 3)).outcome == "breach"  # 1.5%


def test_a_failing_legacy_does_not_make_an_equally_failing_modern_a_breach():
    assert verdict(side(100, 50), side(100, 50)).outcome == "healthy"


def test_p99_may_reach_ratio_times_legacy_plus_slack():
    legacy = side(p99=0.100)
    assert verdict(legacy, side(p99=0.200)).outcome == "healthy"  # 0.1 * 1.5 + 0.05 = 0.2
    found = verdict(legacy, side(p99=0.201))
    assert found.outcome == "breach"
    assert found.reason == "p99: modern 201 ms against legacy 100 ms, above 1.5 x legacy + 50 ms = 200 ms"


def test_the_slack_keeps_a_tiny_p99_from_breaching_on_a_ratio():
    assert verdict(side(p99=0.001), side(p99=0.030)).outcome == "healthy"  # 30x, but 30 ms
    strict = PromoteConfig(min_requests=50, p99_slack=0.0)
    assert verdict(side(p99=0.001), side(p99=0.030), strict).outcome == "breach"


def test_too_few_requests_on_either_side_waits():
    found = verdict(side(49), side(500, errors=500))  # modern fails, but legacy's baseline is too thin
    assert found.outcome == "waiting"
    assert found.reasons == ("legacy answered 49 of the 50 requests needed",)
    found = verdict(side(500), side(0))
    assert found.reason == "modern answered 0 of the 50 requests needed"
    assert verdict(side(50), side(50)).outcome == "healthy"


def test_red_parity_and_shadow_differences_are_breaches_without_traffic():
    red = Parity(False, "shows 'users' red")
    found = verdict(side(0), side(0), parity=red)
    assert (found.outcome, found.reasons) == ("breach", ("parity not green: shows 'users' red",))
    found = verdict(side(), side(), shadow=Shadow(40, 1))
    assert found.reasons == ("shadow: 1 of 40 comparisons differ (2.5%, at most 0.0%)",)
    assert verdict(side(), side(), shadow=Shadow(0, 0)).outcome == "healthy"
    lenient = PromoteConfig(min_requests=50, max_shadow_different_rate=0.05)
    assert verdict(side(), side(), lenient, shadow=Shadow(40, 2)).outcome == "healthy"


def test_every_breach_is_named():
    found = verdict(side(100, 0, 0.01), side(100, 50, 1.0), parity=Parity(False, "red"))
    assert [r.split(":")[0] for r in found.reasons] == ["parity not green", "5xx", "p99"]


def entry(
    backend: str, served_by: str | None = None, status: int = 200, seconds: float = 0.01, route="users"
):
    return Entry(0.0, route, backend, served_by or backend, status, seconds)


def test_a_failover_is_a_modern_failure_and_not_legacys_answer():
    entries = [entry("legacy")] * 10 + [entry("modern")] * 8 + [entry("modern", "legacy", 200, 2.0)] * 2
    entries += [entry("modern", "nginx", 502), entry("legacy", status=503), entry("modern", route="other")]
    window = window_of(entries, "users")
    assert window.legacy == Side(11, 1, 0.01)
    assert window.modern == Side(11, 3, 2.0, failovers=2)
    config = PromoteConfig(min_requests=10)
    found = judge(window, config, GREEN)
    assert found.outcome == "breach"
    assert "5xx: modern 27.3% (3 of 11, 2 of them failovers)" in found.reason
    assert "p99: modern 2000 ms" in found.reason


def test_an_empty_window():
    window = window_of([], "users")
    assert window.legacy == Side() and window.modern == Side()
    assert window.short() == "legacy 0 req, 5xx 0.0%, p99 -; modern 0 req, 5xx 0.0%, p99 -"
