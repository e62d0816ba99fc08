"""The last hour's buckets the charts draw: counts per route and backend, 5xx share, p99 within its bin's
5%, the actual modern share by intended backend, buckets dropped once out of the span."""

from __future__ import annotations

import pytest

from cutover.metrics.access_log import Entry
from cutover.metrics.series import Series
from cutover.metrics.windows import quantile

T0 = 1_796_000_000.0  # a multiple of 10: bucket boundaries fall on it


def entry(t: float, route: str = "users", backend: str = "legacy", status: int = 200, took: float = 0.01,
          served_by: str | None = None) -> Entry:  # fmt: skip
    return Entry(t, route, backend, served_by or backend, status, took)


def test_counts_and_rates_per_bucket_and_backend():
    series = Series(span=60, step=10)
    series.add([entry(T0 + 1), entry(T0 + 2, status=502), entry(T0 + 12, backend="modern")])
    series.add([entry(T0 + 15, route="other")])
    chart = series.chart("users", now=T0 + 20)
    assert len(chart.times) == 6 and chart.times[-1] == T0 + 20  # the current bucket last
    assert chart.times[-3:] == (T0, T0 + 10, T0 + 20)
    assert chart.per_second["legacy"][-3:] == (0.2, 0.0, 0.0)
    assert chart.per_second["modern"][-3:] == (0.0, 0.1, 0.0)
    assert chart.error_rate["legacy"][-3:] == (0.5, None, None)  # no requests: no rate, a gap in the chart
    assert chart.error_rate["modern"][-2] == 0.0
    totals = series.totals("users", "legacy", now=T0 + 20)
    assert (totals.requests, totals.errors, totals.error_rate) == (2, 1, 0.5)
    assert series.totals("users", "modern", now=T0 + 20).requests == 1
    assert series.totals("nothing", "modern", now=T0 + 20).requests == 0
    assert series.routes() == ["other", "users"]


def test_the_current_buckets_rate_is_over_the_part_that_has_passed():
    series = Series(span=60, step=10)
    series.add([entry(T0 + 1), entry(T0 + 2)])
    assert series.chart("users", now=T0 + 4).per_second["legacy"][-1] == 0.5  # 2 requests in 4 s


@pytest.mark.parametrize("count", [1, 7, 100, 1000])
def test_p99_is_within_five_percent_above_the_exact_nearest_rank(count):
    times = [0.0005 + i * 0.0037 for i in range(count)]
    series = Series(span=60, step=10)
    series.add(entry(T0 + 1, took=t) for t in times)
    exact = quantile(sorted(times), 0.99)
    assert exact is not None
    found = series.totals("users", "legacy", now=T0 + 5).p99
    assert found is not None
    assert exact <= found <= exact * 1.05
    assert found <= max(times)  # never above the slowest request


def test_backends_are_the_ones_that_answered_and_the_share_the_ones_meant():
    series = Series(span=600, step=10)
    # A canary's modern request failed over to legacy: legacy answered it, but it was meant for modern.
    series.add(
        [entry(T0 + 1, backend="modern", served_by="legacy"), entry(T0 + 2), entry(T0 + 3, backend="modern")]
    )
    assert series.totals("users", "legacy", now=T0 + 5).requests == 2
    assert series.totals("users", "modern", now=T0 + 5).requests == 1
    assert series.modern_share("users", now=T0 + 5) == pytest.approx(2 / 3)
    assert series.modern_share("users", now=T0 + 200) is None  # nothing in the last minute
    assert series.modern_share("other", now=T0 + 5) is None


def test_buckets_older_than_the_span_are_dropped():
    series = Series(span=60, step=10)
    series.add([entry(T0 + 1), entry(T0 + 61)])
    assert series.totals("users", "legacy", now=T0 + 65).requests == 1  # out of the span: not counted
    series.prune(T0 + 65)
    assert series.totals("users", "legacy", now=T0 + 20).requests == 0  # and gone once pruned
    assert series.totals("users", "legacy", now=T0 + 65).requests == 1


def test_a_step_longer_than_the_span_is_refused():
    with pytest.raises(ValueError):
        Series(span=5, step=10)
