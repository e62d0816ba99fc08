"""Reading wrk's results, and what happens without wrk."""

from __future__ import annotations

import pytest

from cutover.bench import loadgen
from cutover.bench.loadgen import HOW_TO_GET_WRK, MARKER, LoadResult, ensure_wrk, parse_wrk_output
from cutover.errors import CutoverError
from cutover.exit_codes import ExitCode

# What wrk 4.1 prints with our reporter appended: its own summary, then the JSON line.
WRK_STDOUT = """Running 8s test @ http://127.0.0.1:40123/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    22.51ms   10.02ms 180.33ms   83.12%
    Req/Sec     1.43k   210.55     1.90k    70.00%
  22874 requests in 8.01s, 11.87MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   2855.74
Transfer/sec:      1.48MB
CUTOVER_BENCH_JSON {"requests":22874,"duration_us":8010000,"bytes":12446023,"errors":{"connect":0,"read":1,\
"write":0,"status":12,"timeout":3},"latency_us":{"p50":20411,"p90":31020,"p99":76201,"max":180330,"mean":22510.4}}
"""


def test_parses_the_reporter_line():
    result = parse_wrk_output(WRK_STDOUT)
    assert result == LoadResult(
        requests=22874,
        duration_s=8.01,
        bytes=12446023,
        errors_connect=0,
        errors_read=1,
        errors_write=0,
        errors_status=12,
        errors_timeout=3,
        latency_p50_ms=20.411,
        latency_p90_ms=31.02,
        latency_p99_ms=76.201,
        latency_max_ms=180.33,
        latency_mean_ms=22.5104,
    )
    assert result.errors == 16


def test_throughput_counts_only_good_answers():
    # 22874 answers of which 12 were >= 400: a fast error page must not look like speed.
    assert parse_wrk_output(WRK_STDOUT).rps == pytest.approx((22874 - 12) / 8.01)


def test_the_last_report_line_wins():
    earlier = WRK_STDOUT.replace('"requests":22874', '"requests":1')
    assert parse_wrk_output(earlier + WRK_STDOUT).requests == 22874


def test_output_without_a_report_is_an_error_naming_what_wrk_said():
    with pytest.raises(CutoverError) as info:
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")
    assert info.value.code == ExitCode.FAILED
    assert "Connection refused" in str(info.value)


@pytest.mark.parametrize(
    "line",
    [
        MARKER + "{not json",
        MARKER + '{"requests": 1}',
        MARKER + '{"requests":"x","duration_us":1,"bytes":0,"errors":{},"latency_us":{}}',
    ],
)
def test_a_malformed_report_is_an_error(line):
    with pytest.raises(CutoverError, match="unreadable wrk report"):
        parse_wrk_output(line + "\n")


def test_zero_duration_is_zero_throughput():
    line = WRK_STDOUT.replace('"duration_us":8010000', '"duration_us":0')
    assert parse_wrk_output(line).rps == 0.0


def test_missing_wrk_without_install_explains_how_to_get_it(monkeypatch):
    monkeypatch.setattr(loadgen.shutil, "which", lambda name: None)
    with pytest.raises(CutoverError) as info:
        ensure_wrk(install=False)
    assert info.value.code == ExitCode.USAGE
    assert str(info.value) == HOW_TO_GET_WRK
    assert "apt-get install -y wrk" in HOW_TO_GET_WRK


def test_installed_wrk_is_found(monkeypatch):
    monkeypatch.setattr(loadgen.shutil, "which", lambda name: "/opt/bin/wrk" if name == "wrk" else None)
    assert ensure_wrk(install=False) == "/opt/bin/wrk"
