"""A route flipped 24 times between legacy, canary (at changing shares) and modern with `cutover move` /
`cutover rollback`, under concurrent keep-alive load through the front door (real nginx): zero failed
requests, for reads and for writes, with clients that never retry.

Moves are live (no reload: ``cutover/proxy/live.py``), so no client connection is ever closed by a flip.
Clients are plain ``httpx.Client``s (no retries, keep-alive connections reused). Writes carry a unique
``X-Write-Id`` that the backends record: every POST is answered once and reached a backend exactly once.

Backends: two tiny real uvicorn servers (``echo_app.py``). Load is loopback only and bounded: 4 client
threads, at most 3,000 requests each, for as long as the flips take (a few seconds).
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


def flip_under_load(front_door, request) -> tuple[int, list[str], Counter[tuple[str, str]]]:
    """Run ``request(client, worker, n)`` in THREADS keep-alive clients while FLIPS moves are made."""
    stop = threading.Event()
    failures: list[str] = []
    served: Counter[tuple[str, str]] = Counter()
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
                        served[
                            (r.headers.get("x-cutover-route", "?"), r.headers.get("x-cutover-backend", "?"))
                        ] += 1
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                sent += 1
        return sent

    common = ["--manifest", str(front_door.manifest), "--proxy-dir", str(front_door.nginx.prefix)]
    moves = cycle(MOVES)
    runner = CliRunner()
    workers = front_door.nginx.worker_pids()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(load, worker) for worker in range(THREADS)]
        try:
            for _ in range(FLIPS):
                stop.wait(0.1)  # let requests run on each state
                result = runner.invoke(app, [*next(moves), *common])
                assert result.exit_code == 0, result.output
                assert "switched live, no reload" in result.output
        finally:
            stop.set()
        total = sum(f.result() for f in futures)
    assert front_door.nginx.worker_pids() == workers  # never reloaded
    return total, failures, served


def test_flipping_a_route_24_times_under_keep_alive_reads_fails_no_request(front_door):
    def get(client: httpx.Client, worker: int, n: int) -> httpx.Response:
        path = f"/api/users/{n}/" if n % 2 == 0 else "/api/users/"  # the flipped route, and one that stays
        return client.get(path, headers={"Authorization": f"Token w{worker}-{n % 50}"})

    total, failures, served = flip_under_load(front_door, get)
    assert failures == [], f"{len(failures)} of {total} failed: {failures[:5]}"
    assert total >= 400
    # the load really crossed every state: the flipped route was served by both backends
    assert served[("user-detail", "legacy")] > 0 and served[("user-detail", "modern")] > 0
    assert served[("users", "modern")] == 0


def test_flipping_a_route_24_times_under_keep_alive_writes_delivers_each_exactly_once(
    front_door, echo_backends
):
    run = uuid.uuid4().hex[:8]

    def post(client: httpx.Client, worker: int, n: int) -> httpx.Response:
        headers = {"Authorization": f"Token w{worker}-{n % 50}", "X-Write-Id": f"{run}-{worker}-{n}"}
        return client.post(f"/api/users/{n}/", headers=headers, json={"n": n})

    total, failures, served = flip_under_load(front_door, post)
    assert failures == [], f"{len(failures)} of {total} failed: {failures[:5]}"
    assert total >= 400
    assert served[("user-detail", "legacy")] > 0 and served[("user-detail", "modern")] > 0
    received: Counter[str] = Counter()
    for server in (echo_backends.legacy, echo_backends.modern):
        ids = httpx.get(f"http://{server.address}/__writes", timeout=10).json()
        received.update(i for i in ids if i.startswith(run + "-"))
    assert sum(received.values()) == total  # as many writes reached the backends as were answered
    assert max(received.values()) == 1  # none twice
