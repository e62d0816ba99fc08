"""The comparator (``cutover/shadow/server.py``, ``compare.py``) in process, on small real ASGI backends:
copies answered at once, compared with the parity engine, noise learned from the legacy's second answer,
writes refused, overload dropped and counted, secrets kept out of the store.

The backends are ASGI apps reached through httpx's ASGI transport; the store is a real SQLite file. The
front door and the real apps are in ``test_shadow_e2e.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import httpx
import pytest

from cutover.parity.compare import Rule
from cutover.shadow.server import STATUS_PATH, Comparator
from cutover.shadow.store import ShadowStore, Thresholds

TOKEN = "Token 4f1c9a7e2b8d40c6a5e3f7b1d9c2e8a6"
SESSION = "sessionid=qz7x3m9k2p5w8r1t6y4u0v3b7n2c5a8d"


def backend(name: str, *, alter: dict | None = None, delay: float = 0.0, seen: list | None = None):
    """An ASGI app answering JSON about the request; ``alter`` changes fields of its answers."""
    counter = itertools.count()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if seen is not None:
            seen.append(
                (scope["method"], scope["path"], dict((k.decode(), v.decode()) for k, v in scope["headers"]))
            )
        if delay:
            await asyncio.sleep(delay)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        body = {
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "user": headers.get("authorization", "anonymous")[-6:],
            "link": f"http://{headers.get('host', '')}/api/users/?page=2",
            "call": next(counter) if name == "flaky-legacy" else 0,  # differs on every call of the legacy
            "echo": headers.get("authorization", ""),  # a credential echoed back: must be redacted
        }
        body.update(alter or {})
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": data})

    return app


def make(tmp_path: Path, legacy, modern, **kwargs) -> tuple[Comparator, ShadowStore]:
    store = ShadowStore(f"sqlite:///{tmp_path / 'shadow.sqlite3'}", keep=kwargs.pop("keep", 100))
    apps = {"legacy": legacy, "modern": modern}
    comparator = Comparator(
        store,
        legacy="http://legacy.test",
        modern="http://modern.test",
        transport=lambda name: httpx.ASGITransport(app=apps[name]),
        **kwargs,
    )
    return comparator, store


async def copies(comparator: Comparator, requests: list[tuple[str, str, str]], **headers: str) -> list[int]:
    """Send copies as the front door does (route header, client headers); the statuses it got."""
    statuses = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=comparator), base_url="http://shadow"
    ) as c:
        for method, route, target in requests:
            hdrs = {"X-Cutover-Shadow-Route": route, "Host": "front.test", **headers}
            statuses.append((await c.request(method, target, headers=hdrs)).status_code)
    return statuses


async def run(comparator: Comparator, requests, **headers) -> list[int]:
    await comparator.start()
    try:
        statuses = await copies(comparator, requests, **headers)
        await comparator.idle()
        return statuses
    finally:
        await comparator.stop()


def summary(store: ShadowStore, route: str):
    (found,) = [s for s in store.summary(thresholds=Thresholds()) if s.route == route]
    return found


def test_the_same_answers_match_and_a_changed_field_is_reported_on_its_route_only(tmp_path):
    comparator, store = make(tmp_path, backend("legacy"), backend("modern", alter={"user": "changed"}))
    requests = [("GET", "detail", f"/api/users/{n}/?x={n}") for n in range(20)]
    statuses = asyncio.run(run(comparator, requests, Authorization=TOKEN))
    assert statuses == [204] * 20
    detail = summary(store, "detail")
    assert (detail.mirrored, detail.compared, detail.different) == (20, 20, 20)
    assert [f.path for f in detail.differing] == ["body.user"]  # and nothing else: links, query, path agree

    comparator, store = make(tmp_path / "same", backend("legacy"), backend("modern"))
    asyncio.run(run(comparator, requests, Authorization=TOKEN))
    same = summary(store, "detail")
    assert (same.compared, same.matched, same.different, same.has_differences) == (20, 20, 0, False)


def test_a_legacy_field_that_changes_on_every_call_is_noise_not_a_difference(tmp_path):
    comparator, store = make(tmp_path, backend("flaky-legacy"), backend("modern"))
    asyncio.run(run(comparator, [("GET", "detail", f"/api/users/{n}/") for n in range(10)]))
    detail = summary(store, "detail")
    assert detail.has_differences is False and detail.different == 0
    noisy = {f.path: f for f in detail.fields}
    assert noisy["body.call"].secondary_rate == 1.0 and not noisy["body.call"].reported


def test_the_parity_rules_excuse_what_they_excuse(tmp_path):
    rule = Rule(route="detail", path="body.user", reason="the port names users differently, on purpose")
    comparator, store = make(
        tmp_path, backend("legacy"), backend("modern", alter={"user": "x"}), rules=[rule]
    )
    asyncio.run(run(comparator, [("GET", "detail", "/api/users/1/")]))
    assert summary(store, "detail").has_differences is False


def test_writes_are_refused_and_never_reach_an_app(tmp_path):
    seen: list = []
    comparator, store = make(tmp_path, backend("legacy", seen=seen), backend("modern", seen=seen))
    writes = [(m, "detail", "/api/users/1/") for m in ("POST", "PUT", "PATCH", "DELETE")]
    statuses = asyncio.run(run(comparator, [*writes, ("GET", "detail", "/api/users/1/")]))
    assert statuses == [405, 405, 405, 405, 204]
    assert {method for method, _, _ in seen} == {"GET"}  # the GET's three calls, nothing else
    assert len(seen) == 3
    assert comparator.counts["refused"] == 4


def test_the_clients_headers_reach_both_apps_and_the_route_header_does_not(tmp_path):
    seen: list = []
    comparator, _ = make(tmp_path, backend("legacy", seen=seen), backend("modern", seen=seen))
    asyncio.run(
        run(comparator, [("GET", "detail", "/api/users/1/?a=1&b=2")], Authorization=TOKEN, Cookie=SESSION)
    )
    assert len(seen) == 3
    for _method, _path, headers in seen:
        assert headers["authorization"] == TOKEN and headers["cookie"] == SESSION
        assert headers["host"] == "front.test" and "x-cutover-shadow-route" not in headers


def test_overload_drops_copies_and_counts_them_but_answers_every_copy_at_once(tmp_path):
    comparator, store = make(
        tmp_path, backend("legacy", delay=0.5), backend("modern", delay=0.5), queue=2, workers=1
    )

    async def scenario():
        await comparator.start()
        try:
            statuses = await copies(comparator, [("GET", "detail", f"/api/users/{n}/") for n in range(12)])
            await comparator.idle()
            return statuses
        finally:
            await comparator.stop()

    statuses = asyncio.run(scenario())
    assert statuses == [204] * 12  # every copy answered before any comparison was made
    detail = summary(store, "detail")
    assert detail.mirrored == 12 and detail.dropped >= 8 and detail.compared == 12 - detail.dropped


def test_an_app_that_cannot_be_reached_is_an_error_not_a_difference(tmp_path):
    async def broken(scope, receive, send):
        raise httpx.ConnectError("refused")

    comparator, store = make(tmp_path, backend("legacy"), broken)
    asyncio.run(run(comparator, [("GET", "detail", "/api/users/1/")]))
    detail = summary(store, "detail")
    assert (detail.errors, detail.different, detail.has_differences) == (1, 0, False)


def test_no_credential_reaches_the_store(tmp_path):
    comparator, store = make(tmp_path, backend("legacy"), backend("modern", alter={"user": "changed"}))
    target = "/api/users/1/?access_token=ZZ9plural-z-alpha-77&page=1"
    asyncio.run(run(comparator, [("GET", "detail", target)], Authorization=TOKEN, Cookie=SESSION))
    store.close()
    raw = (tmp_path / "shadow.sqlite3").read_bytes()
    for secret in (TOKEN.split()[1], SESSION.split("=")[1], "ZZ9plural-z-alpha-77"):
        assert secret.encode() not in raw
    assert summary(ShadowStore(f"sqlite:///{tmp_path / 'shadow.sqlite3'}"), "detail").has_differences


def test_the_status_endpoint_answers_without_a_route_header(tmp_path):
    comparator, _ = make(tmp_path, backend("legacy"), backend("modern"))

    async def scenario():
        await comparator.start()
        try:
            transport = httpx.ASGITransport(app=comparator)
            async with httpx.AsyncClient(transport=transport, base_url="http://shadow") as client:
                status = await client.get(STATUS_PATH)
                stray = await client.get("/api/users/")
            return status, stray
        finally:
            await comparator.stop()

    status, stray = asyncio.run(scenario())
    assert status.status_code == 200 and status.json()["queue"] == 0
    assert stray.status_code == 400  # not a copy: nothing is sent to any app


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_options_are_compared(tmp_path, method):
    comparator, store = make(tmp_path, backend("legacy"), backend("modern"))
    asyncio.run(run(comparator, [(method, "detail", "/api/users/1/")]))
    assert summary(store, "detail").compared == 1
