"""A route flipped 20 times between legacy, canary and modern with `cutover move` / `cutover rollback`,
under concurrent load through the front door (real nginx, graceful reloads): zero failed requests.

Backends: two tiny real uvicorn servers (``echo_app.py``); the app does not matter, the reloads do.
Load is loopback only and bounded: 6 client threads, at most 3,000 requests each, for as long as the
20 flips take.

The clients behave as HTTP/1.1 clients must (RFC 9112 section 9.3.1): a graceful reload closes *idle*
keep-alive connections, so a request sent on a reused connection at that instant gets no response (nginx
never read it). Clients retry such an idempotent request once on a new connection, as browsers do; the
retries are counted and bounded by one per connection per reload. Non-idempotent requests are never
retried; they go on connections that are not reused, which a reload does not close.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle

import httpx
from typer.testing import CliRunner

from cutover.cli import app

THREADS = 6
MAX_REQUESTS_PER_THREAD = 3000
FLIPS = 20
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


def send(client: httpx.Client, method: str, path: str, **kwargs) -> tuple[httpx.Response, int]:
    """The response, and 1 if the request had to be retried after its keep-alive connection closed."""
    try:
        return client.request(method, path, **kwargs), 0
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        # closed (FIN: "disconnected without sending a response") or reset (RST: the unread request)
        closed = "without sending a response" in str(exc) or "reset by peer" in str(exc)
        if method not in IDEMPOTENT or not closed:
            raise
        return client.request(method, path, **kwargs), 1


def test_flipping_a_route_20_times_under_load_fails_no_request(front_door):
    stop = threading.Event()
    failures: list[str] = []
    served: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    retries = 0

    def load(worker: int) -> int:
        nonlocal retries
        sent = 0
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with front_door.client() as client, front_door.client(limits=no_reuse) as fresh:
            while not stop.is_set() and sent < MAX_REQUESTS_PER_THREAD:
                method, path = [
                    ("GET", f"/api/users/{sent}/"),  # the flipped route
                    ("POST", f"/api/users/{sent}/"),  # non-idempotent, on the flipped route
                    ("GET", "/api/users/"),  # a route that stays put
                ][sent % 3]
                headers = {"Authorization": f"Token w{worker}-{sent % 50}"}
                try:
                    if method == "POST":
                        r, retried = fresh.post(path, headers=headers, json={"n": sent}), 0
                    else:
                        r, retried = send(client, method, path, headers=headers)
                    ok = r.status_code == 200 and r.json()["backend"] == r.headers["x-cutover-backend"]
                    if not ok:
                        failures.append(f"{method} {path}: {r.status_code} {r.text[:100]}")
                    with lock:
                        retries += retried
                        served[
                            (r.headers.get("x-cutover-route", "?"), r.headers.get("x-cutover-backend", "?"))
                        ] += 1
                except httpx.HTTPError as exc:
                    failures.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                sent += 1
        return sent

    common = ["--manifest", str(front_door.manifest), "--proxy-dir", str(front_door.nginx.prefix)]
    moves = cycle(
        [
            ["move", "user-detail", "--to", "canary", "--percent", "50", "--force"],
            ["move", "user-detail", "--to", "modern", "--force"],
            ["rollback", "user-detail"],
            ["move", "user-detail", "--to", "modern", "--force"],
            ["move", "user-detail", "--to", "canary", "--percent", "20", "--force"],
            ["move", "user-detail", "--to", "legacy"],
        ]
    )
    runner = CliRunner()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(load, worker) for worker in range(THREADS)]
        try:
            for _ in range(FLIPS):
                stop.wait(0.15)  # let requests run on each configuration
                result = runner.invoke(app, [*next(moves), *common])
                assert result.exit_code == 0, result.output
                assert "reloaded gracefully" in result.output
        finally:
            stop.set()
        total = sum(f.result() for f in futures)

    assert failures == [], f"{len(failures)} of {total} failed: {failures[:5]}"
    assert retries <= FLIPS * THREADS, retries
    assert total >= 300
    # the load really crossed every configuration: the flipped route was served by both backends
    assert served[("user-detail", "legacy")] > 0 and served[("user-detail", "modern")] > 0
    assert served[("users", "modern")] == 0
