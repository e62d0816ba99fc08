"""The access log follower and the sliding windows: entries appended since the last read, a line written
in two halves, logrotate's rename and copytruncate, both front doors' units; figures per route and
backend, and the actual modern share of a canary. The exporter's text as Prometheus scrapes it.

Real files, written as the front doors write them; a real nginx log in ``test_live_nginx_log``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cutover.metrics.access_log import LogFollower, parse
from cutover.metrics.exporter import TrafficCollector, exposition, registry_for
from cutover.metrics.windows import Windows, quantile
from tests.cutover.proxy.conftest import BOTH_DOORS, free_port

T0 = 1_796_000_000


@pytest.fixture
def follow():
    """Make followers (each holds its file open between reads); all are closed at the test's end."""
    made: list[LogFollower] = []

    def make(*args, **kwargs) -> LogFollower:
        made.append(LogFollower(*args, **kwargs))
        return made[-1]

    yield make
    for follower in made:
        follower.close()


def line(t: float, route: str = "users", backend: str = "legacy", status: int = 200, took: float = 0.01,
         served_by: str | None = None) -> str:  # fmt: skip
    stamp = __import__("datetime").datetime.fromtimestamp(t, tz=__import__("datetime").UTC).isoformat()
    entry = {"time": stamp, "route": route, "backend": backend, "served_by": served_by or backend,
             "status": status, "request_time": took, "uri": "/x", "method": "GET"}  # fmt: skip
    return json.dumps(entry) + "\n"


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def test_reads_what_was_appended_since_the_last_read_and_completes_half_written_lines(tmp_path: Path, follow):
    log = tmp_path / "access.log"
    append(log, line(T0, "old"))
    follower = follow(log)  # what the file held before is history, not traffic
    assert follower.read() == []
    text = line(T0 + 1, "users") + line(T0 + 2, "users-me")
    append(log, text[:-20])  # the second line only partly written
    assert [e.route for e in follower.read()] == ["users"]
    append(log, text[-20:])
    assert [e.route for e in follower.read()] == ["users-me"]
    assert follower.read() == []


def test_survives_rename_rotation_reading_the_old_files_last_lines_first(tmp_path: Path, follow):
    log = tmp_path / "access.log"
    log.touch()
    follower = follow(log)
    append(log, line(T0, "a"))
    os.rename(log, tmp_path / "access.log.1")  # logrotate: rename ...
    append(tmp_path / "access.log.1", line(T0 + 1, "b"))  # ... the front door still writes to the old one
    append(log, line(T0 + 2, "c"))  # ... until it reopens: a new file at the path
    assert [e.route for e in follower.read()] == ["a", "b", "c"]
    append(log, line(T0 + 3, "d"))
    assert [e.route for e in follower.read()] == ["d"]


def test_survives_copytruncate(tmp_path: Path, follow):
    log = tmp_path / "access.log"
    log.touch()
    follower = follow(log)
    append(log, line(T0, "a") + line(T0 + 1, "b"))
    assert len(follower.read()) == 2
    log.write_text(line(T0 + 2, "c"))  # truncated, then written again: shorter than what was read
    assert [e.route for e in follower.read()] == ["c"]


def test_a_log_that_does_not_exist_yet_is_read_once_it_does(tmp_path: Path, follow):
    log = tmp_path / "access.log"
    follower = follow(log)
    assert follower.read() == []
    append(log, line(T0, "first"))
    assert [e.route for e in follower.read()] == ["first"]


def test_envoy_times_are_milliseconds_and_foreign_lines_are_counted_not_fatal(tmp_path: Path, follow):
    assert parse(line(T0, took=0.25)).seconds == 0.25
    assert parse(line(T0, took=250), unit=0.001).seconds == 0.25
    log = tmp_path / "access.log"
    log.touch()
    follower = follow(log, "envoy")
    append(log, "not json\n" + line(T0, took=40))
    (entry,) = follower.read()
    assert entry.seconds == 0.04 and follower.skipped == 1


def test_figures_per_route_and_backend_over_the_window():
    windows = Windows(span=10)
    entries = [parse(line(T0 + i % 10, "users", "modern", 500 if i % 4 == 0 else 200, took=i / 1000))
               for i in range(1, 101)]  # fmt: skip
    entries += [parse(line(T0 + 5, "users", "modern", served_by="legacy"))]  # a failover
    entries += [parse(line(T0 - 30, "users", "modern"))]  # outside the window
    windows.add(e for e in entries if e is not None)
    by = {(f.route, f.backend): f for f in windows.figures(now=T0 + 10)}
    modern = by[("users", "modern")]
    assert modern.requests == 100 and modern.per_second == 10.0
    assert modern.error_rate == 0.25
    assert (modern.p50, modern.p99) == (0.05, 0.099)
    assert by[("users", "legacy")].requests == 1  # who answered, not whom it was meant for
    assert quantile([], 0.5) is None


def test_the_actual_modern_share_of_a_canary_is_by_the_intended_backend():
    windows = Windows(span=60)
    for i in range(200):
        backend = "modern" if i % 5 == 0 else "legacy"  # 20%
        served = "legacy" if i % 10 == 0 else backend  # half of modern's failed over
        windows.add([parse(line(T0, "detail", backend, served_by=served))])
    assert windows.modern_share(now=T0 + 1) == {"detail": 0.2}


def test_the_exporter_serves_the_figures_as_prometheus_text(tmp_path: Path, follow):
    log = tmp_path / "access.log"
    log.touch()
    collector = TrafficCollector(follow(log), Windows(span=60), clock=lambda: T0 + 30)
    registry = registry_for(collector)
    append(log, "".join(line(T0 + i % 30, "detail", "modern" if i < 30 else "legacy",
                              503 if i == 0 else 200) for i in range(60)))  # fmt: skip
    families = {f.name: f for f in text_string_to_metric_families(exposition(registry).decode())}
    rps = {s.labels["backend"]: s.value for s in families["cutover_requests_per_second"].samples}
    assert rps == {"modern": 0.5, "legacy": 0.5}
    errors = {s.labels["backend"]: s.value for s in families["cutover_error_ratio"].samples}
    assert errors == {"modern": 1 / 30, "legacy": 0.0}
    (share,) = families["cutover_modern_share"].samples
    assert (share.labels["route"], share.value) == ("detail", 0.5)
    totals = {(s.labels["backend"], s.labels["status"]): s.value
              for s in families["cutover_requests"].samples if s.name == "cutover_requests_total"}  # fmt: skip
    assert totals == {("modern", "5xx"): 1, ("modern", "2xx"): 29, ("legacy", "2xx"): 30}
    append(log, line(T0 + 29, "detail", "legacy"))  # counters only grow: the next scrape adds it
    again = {f.name: f for f in text_string_to_metric_families(exposition(registry).decode())}
    assert sum(s.value for s in again["cutover_requests"].samples if s.name == "cutover_requests_total") == 61


def test_live_nginx_log(front_door, follow):
    """A real nginx's log, read as it is written (nginx flushes its buffer each second)."""
    follower = follow(front_door.access_log)
    with front_door.client() as client:
        for _ in range(5):
            client.get("/api/users/")
        client.get("/nowhere")
    entries: list = []
    for _ in range(50):
        entries += follower.read()
        if len(entries) >= 6:
            break
        __import__("time").sleep(0.1)
    assert [(e.route, e.served_by, e.status) for e in entries] == [("users", "legacy", 200)] * 5 + [
        ("default", "legacy", 200)
    ]
    assert all(0 <= e.seconds < 5 for e in entries)


def test_metrics_serve_answers_a_real_scrape(tmp_path: Path):
    from cutover.commands.metrics import start

    log = tmp_path / "access.log"
    log.touch()
    port = free_port()
    running = start(log, "envoy", host="127.0.0.1", port=port, window=60)
    try:
        append(log, line(__import__("time").time(), "detail", "modern", took=12))
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        running.stop()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    (p99,) = families["cutover_latency_p99_seconds"].samples
    assert (p99.labels, p99.value) == ({"route": "detail", "backend": "modern"}, 0.012)  # Envoy's ms


@BOTH_DOORS
def test_real_traffic_counts_per_route_and_backend_and_a_canarys_actual_share(
    echo_backends, make_front_door, follow, door_kind
):
    """Through a real front door: the exporter counts exactly the requests sent, per route and backend,
    and a 30 % canary sticky by Authorization sends close to 30 % of 400 distinct keys to modern."""
    from cutover.proxy.manifest import set_route_mode
    from tests.cutover.proxy.conftest import manifest_text

    text = manifest_text(echo_backends.legacy.address, echo_backends.modern.address)
    text = set_route_mode(text, "users-me", "canary", 30, source="test")
    text = set_route_mode(text, "user-detail", "modern", source="test")
    door = make_front_door(text)
    collector = TrafficCollector(follow(door.access_log, door_kind), Windows(span=600))
    keys = 400
    with door.client() as client:
        for n in range(keys):
            assert (
                client.get("/api/users/me/", headers={"Authorization": f"Token key-{n}"}).status_code == 200
            )
        for n in range(7):
            client.get(f"/api/users/{n + 1}/")
    counts: dict[tuple[str, str], float] = {}
    for _ in range(60):  # the front doors flush their log each second
        families = {
            f.name: f for f in text_string_to_metric_families(exposition(registry_for(collector)).decode())
        }
        counts = {(s.labels["route"], s.labels["backend"]): s.value
                  for s in families["cutover_requests"].samples if s.name == "cutover_requests_total"}  # fmt: skip
        if sum(counts.values()) >= keys + 7:
            break
        __import__("time").sleep(0.2)
    assert counts[("user-detail", "modern")] == 7 and ("user-detail", "legacy") not in counts
    assert counts[("users-me", "modern")] + counts[("users-me", "legacy")] == keys
    (share,) = [s.value for s in families["cutover_modern_share"].samples if s.labels["route"] == "users-me"]
    assert share == counts[("users-me", "modern")] / keys
    # MurmurHash2 over 400 keys: a binomial spread of sd 2.3 points around the set 30 %
    assert 0.22 <= share <= 0.38, share
