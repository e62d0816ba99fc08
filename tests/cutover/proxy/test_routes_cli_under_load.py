"""A route flipped 24 times between legacy, canary (at changing shares) and modern with `cutover move` /
`cutover rollback`, under concurrent keep-alive load through each front door (real nginx, real Envoy): zero failed
requests, for reads and for writes, with clients that never retry.

Moves are live (nginx: no reload, ``cutover/proxy/live.py``; Envoy: a new route table from its routes file,
``cutover/proxy/envoy_door.py``), so no client connection is ever closed by a flip.
Clients are plain ``httpx.Client``s (no retries, keep-alive connections reused). Writes carry a unique
``X-Write-Id`` that the backends record: every POST is answered once and reached a backend exactly once.

Backends: two tiny real uvicorn servers (``echo_app.py``). Load is loopback only and bounded: 4 client
threads (two reading, two writing), at most 3,000 requests each, for as long as the flips take (a few
seconds).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle

import httpx
from typer.testing import CliRunner

from cutover.cli import app

from .conftest import BOTH_DOORS

pytestmark = BOTH_DOORS

THREADS = 4
MAX_REQUESTS_PER_THREAD = 3000
FLIPS = 24
MOVES = [
    ["move", "user-detail", "--to", "canary", "--percent", "50", "--force"],
    ["move", "user-detail", "--to", "modern", "--force"],
    ["rollback", "user-detail"],
    ["move", "user-detail", "--to", "canary", "--percent", "20", "--force"],
    ["move", "user-detail", "--to", "canary", "--percent", "80", "--force"],
    ["move", "user-detail", "--to", "modern", "--force"],
    ["move", "user-detail", "--to", "canary", "--percent", "35", "--force"],
    ["move", "user-detail", "--to", "legacy"],
]


def flip_under_load(front_door, request) -> tuple[int, list[str], Counter[tuple[str, str, str]]]:
    """Run ``request(client, worker, n)`` in THREADS keep-alive clients while FLIPS moves are made."""
    stop = threading.Event()
    failures: list[str] = []
    served: Counter[tuple[str, str, str]] = Counter()  # (route, backend, method)
    lock = threading.Lock()

    def load(worker: int) -> int:
        sent = 0
        with front_door.client() as client:  # httpx: keep-alive, no retries
            while not stop.is_set() and sent < MAX_REQUESTS_PER_THREAD:
                try:
                    r = request(client, worker, sent)
                    if r.status_code != 200 or r.json()["backend"] != r.headers["x-cutover-backend"]:
                        failures.append(f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:100]}")
                    with lock:
                        route = r.headers.get("x-cutover-route", "?")
                        served[(route, r.headers.get("x-cutover-backend", "?"), r.request.method)] += 1
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                sent += 1
        return sent

    common = ["--manifest", str(front_door.manifest), "--proxy-dir", str(front_door.prefix)]
    moves = cycle(MOVES)
    runner = CliRunner()
    before = unchanged(front_door)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(load, worker) for worker in range(THREADS)]
        try:
            for _ in range(FLIPS):
                stop.wait(0.1)  # let requests run on each state
                result = runner.invoke(app, [*next(moves), *common])
                assert result.exit_code == 0, result.output
                assert f"{front_door.kind}: switched live" in result.output
        finally:
            stop.set()
        total = sum(f.result() for f in futures)
    assert unchanged(front_door) == before  # never reloaded, restarted or drained
    return total, failures, served


def unchanged(front_door) -> object:
    """What a reload or restart would change: nginx's worker pids; Envoy's process, its listener updates
    and the connections it closed by itself (a drain)."""
    if front_door.kind == "nginx":
        return front_door.nginx.worker_pids()
    stats = httpx.Client(transport=httpx.HTTPTransport(uds=str(front_door.door.admin_socket)))
    with stats:
        data = stats.get("http://envoy/stats", params={"format": "json"}).json()["stats"]
    values = {s["name"]: s.get("value") for s in data if "name" in s}
    watched = ("listener_manager.listener_modified", "http.cutover.downstream_cx_drain_close",
               "server.hot_restart_epoch")  # fmt: skip
    return front_door.proc.pid, {name: values.get(name) for name in watched}


def test_flipping_a_route_24_times_under_keep_alive_load_fails_no_read_and_delivers_each_write_once(
    front_door, echo_backends
):
    """Two clients read (the flipped route, and one that stays on legacy), two write to the flipped route."""
    run = uuid.uuid4().hex[:8]

    def request(client: httpx.Client, worker: int, n: int) -> httpx.Response:
        headers = {"Authorization": f"Token w{worker}-{n % 50}"}
        if worker % 2 == 0:
            path = f"/api/users/{n}/" if n % 2 == 0 else "/api/users/"
            return client.get(path, headers=headers)
        headers["X-Write-Id"] = f"{run}-{worker}-{n}"
        return client.post(f"/api/users/{n}/", headers=headers, json={"n": n})

    total, failures, served = flip_under_load(front_door, request)
    assert failures == [], f"{len(failures)} of {total} failed: {failures[:5]}"
    assert total >= 400
    # the load really crossed every state, for reads and for writes: both backends served the route
    for method in ("GET", "POST"):
        assert served[("user-detail", "legacy", method)] > 0 and served[("user-detail", "modern", method)] > 0
    assert served[("users", "modern", "GET")] == 0
    received: Counter[str] = Counter()
    for server in (echo_backends.legacy, echo_backends.modern):
        ids = httpx.get(f"http://{server.address}/__writes", timeout=10).json()
        received.update(i for i in ids if i.startswith(run + "-"))
    posts = sum(count for (_, _, method), count in served.items() if method == "POST")
    assert posts >= 100
    assert sum(received.values()) == posts  # as many writes reached the backends as were answered
    assert max(received.values()) == 1  # none twice
