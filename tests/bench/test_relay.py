"""The delaying relay really delays, forwards bytes intact both ways, does not cap throughput, and cleans up.

Against real servers: a TCP echo server of the test's own and the test run's PostgreSQL. Timing assertions
are one-sided (at least the configured delay) or generous, never a speed claim about the apps.
"""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psutil
import psycopg
import pytest

from cutover.bench.latency import delayed_database, upstream_of
from cutover.dburl import DatabaseURL

RTT_MS = 40.0  # large beside loopback's few microseconds, so that the one-sided checks are unambiguous


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo() -> Iterator[DatabaseURL]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The relay forwards to a database URL's host and port; this one names the echo server.
    yield DatabaseURL("u", "", "127.0.0.1", server.server_address[1], "db")
    server.shutdown()
    server.server_close()


def _connect(url: DatabaseURL) -> socket.socket:
    sock = socket.create_connection((url.host, url.port or 0), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(65536, size - got))
        assert chunk, f"connection closed after {got} of {size} bytes"
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _round_trip_s(url: DatabaseURL) -> float:
    with _connect(url) as sock:
        sock.sendall(b"warm")
        _recv_exactly(sock, 4)
        start = time.perf_counter()
        sock.sendall(b"ping")
        assert _recv_exactly(sock, 4) == b"ping"
        return time.perf_counter() - start


def test_a_round_trip_through_the_relay_takes_at_least_the_configured_rtt(echo, tmp_path):
    direct = _round_trip_s(echo)
    with delayed_database(echo, RTT_MS, tmp_path) as far:
        assert far.url.host == "127.0.0.1" and far.url.port != echo.port
        assert far.url.name == echo.name and far.url.user == echo.user
        relayed = [_round_trip_s(far.url) for _ in range(3)]
    assert direct < RTT_MS / 1000 / 4
    assert min(relayed) >= RTT_MS / 1000
    assert max(relayed) < RTT_MS / 1000 + 0.5  # delayed, not stuck


def test_zero_latency_is_the_database_itself_without_a_relay(echo, tmp_path):
    with delayed_database(echo, 0.0, tmp_path) as far:
        assert far.url == echo and far.pids == () and far.how.startswith("direct")


def test_bytes_arrive_intact_and_in_order_both_ways(echo, tmp_path):
    payload = os.urandom(3 * 1024 * 1024)  # many chunks each way, each with its own timestamp
    with delayed_database(echo, 2.0, tmp_path) as far, _connect(far.url) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        echoed = _recv_exactly(sock, len(payload))
        sender.join()
    assert echoed == payload


def test_chunks_in_flight_overlap_so_throughput_is_not_one_chunk_per_delay(echo, tmp_path):
    # 20 messages sent 5 ms apart: held each for the delay from its own arrival, they all come back
    # within about one round trip after the last is sent, not 20 round trips.
    with delayed_database(echo, RTT_MS, tmp_path) as far, _connect(far.url) as sock:
        start = time.perf_counter()
        for i in range(20):
            sock.sendall(b"%03d" % i)
            time.sleep(0.005)
        echoed = _recv_exactly(sock, 60)
        elapsed = time.perf_counter() - start
    assert echoed == b"".join(b"%03d" % i for i in range(20))
    assert elapsed < 20 * 0.005 + 4 * RTT_MS / 1000


def test_a_closed_client_closes_the_upstream_and_the_relay_stops_on_exit(echo, tmp_path):
    with delayed_database(echo, 2.0, tmp_path) as far:
        (pid,) = far.pids
        relay = psutil.Process(pid)
        with _connect(far.url) as sock:
            sock.sendall(b"x")
            assert _recv_exactly(sock, 1) == b"x"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _upstream_connections(relay, echo):
            time.sleep(0.05)
        assert _upstream_connections(relay, echo) == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(OSError):
        socket.create_connection((far.url.host, far.url.port or 0), timeout=2).close()


def _upstream_connections(relay: psutil.Process, upstream: DatabaseURL) -> int:
    return sum(
        1
        for c in relay.net_connections("tcp")
        if c.raddr and c.raddr.port == upstream.port and c.status == psutil.CONN_ESTABLISHED
    )


def test_a_relay_whose_upstream_is_gone_closes_the_client(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nothing = DatabaseURL("u", "", "127.0.0.1", s.getsockname()[1], "db")  # bound, not listening
    with delayed_database(nothing, 2.0, tmp_path) as far, _connect(far.url) as sock:
        assert sock.recv(1) == b""


def test_postgresql_through_the_relay_pays_the_round_trip_per_query(tmp_path):
    url = DatabaseURL.parse(os.environ["DATABASE_URL"])
    assert upstream_of(url).startswith(("unix:/", "tcp:"))

    def query_s(target: DatabaseURL) -> float:
        with psycopg.connect(target.libpq(), autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
            start = time.perf_counter()
            for _ in range(3):
                assert conn.execute("SELECT 1").fetchone() == (1,)
            return (time.perf_counter() - start) / 3

    direct = query_s(url)
    with delayed_database(url, RTT_MS, tmp_path) as far:
        relayed = query_s(far.url)
    assert direct < RTT_MS / 1000 / 4
    assert RTT_MS / 1000 <= relayed < RTT_MS / 1000 + 0.5


def test_what_a_client_sends_before_the_upstream_connection_is_up_is_held_not_lost(echo, tmp_path):
    # Without a delay a chunk is due at once, before the relay's own connection to the server may be up
    # (uvloop reads a new connection even when its protocol paused it): it must wait for it, not vanish.
    proc = subprocess.Popen(
        [sys.executable, "-m", "cutover.bench.relay", "--upstream", upstream_of(echo), "--rtt-ms", "0"],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().decode().rpartition(":")[2])
        for i in range(50):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"first %02d" % i)
                assert _recv_exactly(sock, 8) == b"first %02d" % i
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
