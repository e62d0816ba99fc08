"""The comparator service (``cutover shadow serve``): takes copies from the front door, compares later.

The front door's copy must never wait for a comparison (nginx does not finish a request until its mirror
subrequest has an answer, so a slow comparator would slow the client's next request on that
connection). So a copy is answered ``204`` as soon as its head is read, and queued; a bounded queue
(``[shadow] queue``) and ``[shadow] workers`` tasks do the work. A full queue drops the copy and counts
it: overload costs comparisons, never client latency.

Each worker sends the copy to the legacy (primary), the port (candidate) and the legacy again
(secondary) with the client's own headers, compares the three answers (``compare.py``) on a worker thread
(the diff is CPU work: the event loop stays free to answer copies) and records the result. Writes never
reach a second app through here: a copy whose method is not GET, HEAD or OPTIONS is refused (405) and
counted, whatever the front door sent.

``GET /__cutover/shadow`` (no route header) answers the service's own figures as JSON: for ``cutover up``'s
health check and for tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from ..parity.compare import Rule
from ..parity.redact import Redactor
from ..parity.targets import Response
from .compare import ROUTE_HEADER, SAFE_METHODS, Copy, compare, failed
from .store import Comparison, ShadowStore

STATUS_PATH = "/__cutover/shadow"
FLUSH_EVERY = 1.0  # seconds between writes of the mirrored and dropped counters
TIMEOUT = httpx.Timeout(10.0, connect=2.0)
log = logging.getLogger("cutover.shadow")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Comparator:
    """The ASGI app of the comparator service."""

    def __init__(
        self,
        store: ShadowStore,
        *,
        legacy: str,
        modern: str,
        rules: Sequence[Rule] = (),
        queue: int = 1000,
        workers: int = 4,
        secrets: Sequence[str] = (),
        transport: Callable[[str], httpx.AsyncBaseTransport | None] = lambda name: None,
    ) -> None:
        self.store = store
        self.urls = {"legacy": legacy.rstrip("/"), "modern": modern.rstrip("/")}
        self.rules = tuple(rules)
        self.size = queue
        self.workers = workers
        self.secrets = tuple(secrets)
        self._transport = transport
        self.queue: asyncio.Queue[Copy] | None = None
        self.counts: Counter[str] = Counter()  # received, queued, dropped, refused, compared, errors
        self._pending: dict[str, Counter[str]] = {"mirrored": Counter(), "dropped": Counter()}
        self._tasks: list[asyncio.Task[None]] = []
        self._clients: dict[str, httpx.AsyncClient] = {}
        # One thread for the diffs and the store: SQLite takes one writer, and the loop stays free.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cutover-shadow")

    # -- ASGI -----------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        route = next((v for k, v in headers if k.lower() == ROUTE_HEADER), None)
        method = scope["method"]
        if route is None:
            if method == "GET" and scope["path"] == STATUS_PATH:
                await _answer(send, 200, json.dumps(self.status()).encode(), "application/json")
            else:
                await _answer(send, 400, b"not a shadow copy: no X-Cutover-Shadow-Route\n")
            return
        await _drain(receive)  # copies have no body; whatever came is not kept
        self.counts["received"] += 1
        if method not in SAFE_METHODS:
            # Never compared, whatever the front door sent: on one shared database a second app would
            # write twice.
            self.counts["refused"] += 1
            await _answer(send, 405, b"only GET, HEAD and OPTIONS are compared\n")
            return
        target = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        self._pending["mirrored"][route] += 1
        copy = Copy(route, method, target, tuple(headers), time.time())
        assert self.queue is not None, "the comparator serves only after its lifespan started"
        try:
            self.queue.put_nowait(copy)
            self.counts["queued"] += 1
        except asyncio.QueueFull:
            self.counts["dropped"] += 1
            self._pending["dropped"][route] += 1
        await _answer(send, 204, b"")

    def status(self) -> dict[str, Any]:
        depth = self.queue.qsize() if self.queue is not None else 0
        return {"queue": depth, "queue_size": self.size, "workers": self.workers, **self.counts}

    # -- work -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.queue = asyncio.Queue(self.size)
        for name, url in self.urls.items():
            transport = self._transport(name)
            self._clients[name] = httpx.AsyncClient(
                base_url=url, timeout=TIMEOUT, transport=transport, follow_redirects=False
            )
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._flush_forever()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush()
        for client in self._clients.values():
            await client.aclose()
        self._thread.shutdown(wait=True)

    async def idle(self) -> None:
        """Return once every queued copy has been compared and recorded (for tests and a clean stop)."""
        assert self.queue is not None
        await self.queue.join()
        await self._flush()

    async def _work(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            copy = await self.queue.get()
            try:
                result = await self._compare(copy, loop)
                await loop.run_in_executor(self._thread, self.store.record, result)
                self.counts["errors" if result.outcome == "error" else "compared"] += 1
            except Exception:  # the service goes on; the copy is lost, and said so
                log.exception("shadow comparison of %s %s failed", copy.method, copy.route)
                self.counts["errors"] += 1
            finally:
                self.queue.task_done()

    async def _compare(self, copy: Copy, loop: asyncio.AbstractEventLoop) -> Comparison:
        redactor = Redactor([*self.secrets, *copy.secrets()])
        answers: list[Response] = []
        for stage, name in (("primary", "legacy"), ("candidate", "modern"), ("secondary", "legacy")):
            try:
                answers.append(await self._send(name, copy))
            except httpx.HTTPError as exc:
                return failed(copy, stage, exc, redactor)
        primary, candidate, secondary = answers
        return await loop.run_in_executor(
            self._thread,
            lambda: compare(copy, primary, candidate, secondary, rules=self.rules, redactor=redactor),
        )

    async def _send(self, name: str, copy: Copy) -> Response:
        client = self._clients[name]
        started = time.time()
        t0 = time.perf_counter()
        request = client.build_request(copy.method, copy.target, headers=list(copy.forwarded))
        client.cookies.clear()  # each copy carries its own cookies
        response = await client.send(request)
        body = await response.aread()
        return Response(response.status_code, response.headers, body, started, time.perf_counter() - t0)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self._flush()

    async def _flush(self) -> None:
        pending, self._pending = self._pending, {"mirrored": Counter(), "dropped": Counter()}
        if not any(pending.values()):
            return

        def write() -> None:
            for route, count in pending["mirrored"].items():
                self.store.mirrored(route, count)
            for route, count in pending["dropped"].items():
                self.store.dropped(route, count)

        await asyncio.get_running_loop().run_in_executor(self._thread, write)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _answer(send: Send, status: int, body: bytes, content_type: str = "text/plain") -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", content_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["STATUS_PATH", "Comparator"]
