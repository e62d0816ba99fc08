"""``fastapi_app.protocol.LegacyHttpToolsProtocol`` driven byte by byte (a fake transport, an echo app):
methods llhttp does not know reach the app, through keep-alive, pipelining, bodies and reads split
anywhere; methods gunicorn refuses get its page; everything else is uvicorn's httptools protocol."""

from __future__ import annotations

import asyncio
import gc
import http.client
import io
import json
import weakref
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from fastapi_app.environ import GunicornError
from fastapi_app.protocol import LLHTTP_METHODS, LegacyHttpToolsProtocol


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = json.dumps({"method": scope["method"], "path": scope["path"], "body": body.decode()}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": out})


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.buffer = b""
        self.writes: list[bytes] = []
        self.closed = False
        self.reading = asyncio.Event()
        self.reading.set()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8002), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.buffer += data
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading.clear()

    def resume_reading(self) -> None:
        self.reading.set()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass


class _KeepOpen(io.BufferedReader):
    def close(self) -> None:  # http.client closes its file after each response
        pass


class _File:
    def __init__(self, data: bytes) -> None:
        self.file = _KeepOpen(io.BytesIO(data))  # type: ignore[arg-type]

    def makefile(self, *args: object) -> io.BufferedReader:
        return self.file


def responses(data: bytes) -> list[tuple[int, Any]]:
    source, out = _File(data), []
    while source.file.peek(1):
        response = http.client.HTTPResponse(source)  # type: ignore[arg-type]
        response.begin()
        body = response.read()
        kind = response.getheader("content-type")
        out.append((response.status, json.loads(body) if kind == "application/json" else body))
    return out


async def serve(*reads: bytes) -> tuple[list[tuple[int, Any]], bool]:
    """Feed the reads one after another (letting the app answer between them); the answers, and whether
    the connection was closed."""
    transport = await connect(echo, *reads)
    return responses(transport.buffer), transport.closed


async def connect(app: Any, *reads: bytes, transport: Transport | None = None) -> Transport:
    """``app`` served the reads one after another on one connection, then the connection lost."""
    config = Config(app=app, http=LegacyHttpToolsProtocol, lifespan="off", access_log=False)
    config.load()
    protocol = LegacyHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = transport or Transport()
    protocol.connection_made(transport)
    for data in reads:
        await asyncio.wait_for(transport.reading.wait(), 5)  # paused while pipelined requests wait
        protocol.data_received(data)
        for _ in range(20):
            await asyncio.sleep(0)
    for _ in range(50):
        await asyncio.sleep(0)
    closed = transport.closed
    protocol.connection_lost(None)
    transport.closed = closed
    return transport


def request(method: str, path: str = "/", body: bytes = b"", *extra: str) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: x", *extra]
    if body:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def answer(method: str, path: str = "/", body: str = "") -> tuple[int, dict[str, str]]:
    return 200, {"method": method, "path": path, "body": body}


async def test_an_unknown_method_reaches_the_app():
    assert await serve(request("FOO", "/api/users/")) == ([answer("FOO", "/api/users/")], False)


@pytest.mark.parametrize(
    "method", ["DESCRIBE", "GET_PARAMETER", "PRI", "GETX", "M-SEARCHX", "X" * 20, "Q!$%&'*+.^_`|~9"]
)
async def test_methods_gunicorn_takes_but_llhttp_does_not(method):
    assert await serve(request(method)) == ([answer(method)], False)


async def test_known_methods_are_untouched():
    reads = [request(m.decode(), body=b"x") for m in sorted(LLHTTP_METHODS - {b"CONNECT", b"HEAD", b"PRI"})]
    got, closed = await serve(b"".join(reads))
    assert got == [
        answer(m.decode(), body="x") for m in sorted(LLHTTP_METHODS - {b"CONNECT", b"HEAD", b"PRI"})
    ]
    assert not closed


async def test_keep_alive_and_pipelining_around_unknown_methods():
    pipelined = (
        request("GET", "/1")
        + request("FOO", "/2", b"body")
        + request("BAR", "/3")
        + request("POST", "/4", b"x")
    )
    got, closed = await serve(
        request("FOO", "/0"), pipelined, request("GET", "/5"), request("BAZ", "/6", b"yz")
    )
    assert got == [
        answer("FOO", "/0"), answer("GET", "/1"), answer("FOO", "/2", "body"), answer("BAR", "/3"),
        answer("POST", "/4", "x"), answer("GET", "/5"), answer("BAZ", "/6", "yz"),
    ]  # fmt: skip
    assert not closed


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 5, 10, 25, 40, 41, 60])
async def test_reads_split_anywhere(cut):
    data = request("POST", "/a", b"0123456789") + request("FOO", "/b", b"abc") + request("GET", "/c")
    got, closed = await serve(data[:cut], data[cut:])
    assert got == [answer("POST", "/a", "0123456789"), answer("FOO", "/b", "abc"), answer("GET", "/c")]
    assert not closed


async def test_byte_by_byte():
    data = request("FOO", "/a", b"xy") + request("GET", "/b") + request("BARBAR", "/c")
    got, _ = await serve(*(data[i : i + 1] for i in range(len(data))))
    assert got == [answer("FOO", "/a", "xy"), answer("GET", "/b"), answer("BARBAR", "/c")]


async def test_chunked_bodies_and_leading_blank_lines():
    chunked = (
        b"FOO /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    got, _ = await serve(request("GET", "/0") + chunked + b"\r\n" + request("BAR", "/b", b"z"))
    assert got == [answer("GET", "/0"), answer("FOO", "/a", "abcde"), answer("BAR", "/b", "z")]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (request("foo"), GunicornError.invalid_method(b"foo")),
        (request("Foo"), GunicornError.invalid_method(b"Foo")),
        (request("F#O"), GunicornError.invalid_method(b"F#O")),
        (request("X" * 21), GunicornError.invalid_method(b"X" * 21)),
        (request("FO"), GunicornError.invalid_method(b"FO")),
        (b"FOO\r\nHost: x\r\n\r\n", GunicornError.invalid_request_line(b"FOO")),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
            GunicornError.invalid_header(b"content-length"),
        ),
    ],
)
async def test_what_gunicorn_refuses_gets_its_page_and_the_connection_closes(data, error):
    got, closed = await serve(request("GET", "/ok") + data + request("GET", "/never"))
    assert got == [answer("GET", "/ok"), (error.status, error.page())]
    assert closed


async def test_a_refusal_waits_for_the_answers_to_the_requests_before_it():
    got, closed = await serve(request("GET", "/1") + request("POST", "/2", b"x") + request("foo", "/3"))
    assert got == [
        answer("GET", "/1"),
        answer("POST", "/2", "x"),
        (400, GunicornError.invalid_method(b"foo").page()),
    ]
    assert closed


async def test_other_parse_errors_are_uvicorns_400():
    got, closed = await serve(request("GET", "/bad", b"", "Transfer-Encoding: gzip"))
    assert got == [(400, b"Invalid HTTP request received.")] and closed


async def test_a_request_line_that_never_ends_is_not_waited_for():
    got, closed = await serve(b"FOO /" + b"a" * 9000)
    assert got == [(400, b"Invalid HTTP request received.")] and closed


# One write per response: killed between the head and the body, the port would leave the front door with
# headers it has passed on and can no longer retry elsewhere (tests/cutover/test_up_faults.py).


async def test_each_response_is_one_write_head_and_body_together():
    transport = await connect(echo, request("GET", "/a"), request("FOO", "/b") + request("POST", "/c", b"xy"))
    assert responses(transport.buffer) == [
        answer("GET", "/a"),
        answer("FOO", "/b"),
        answer("POST", "/c", "xy"),
    ]
    assert len(transport.writes) == 3
    for write in transport.writes:
        assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"}")


async def test_a_head_response_and_a_bodyless_response_are_one_write_each():
    async def no_content(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = await connect(no_content, request("HEAD") + request("DELETE"))
    assert [write.split(b"\r\n", 1)[0] for write in transport.writes] == [b"HTTP/1.1 204 No Content"] * 2
    assert all(write.endswith(b"\r\n\r\n") for write in transport.writes)


async def test_a_streamed_response_sends_its_head_with_the_first_chunk():
    async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})

    transport = await connect(stream, request("GET"))
    head, first = transport.writes[0].split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in head and first == b"3\r\none\r\n"
    assert transport.writes[1:] == [b"3\r\ntwo\r\n0\r\n\r\n"]


async def test_100_continue_is_not_held_back():
    seen: list[list[bytes]] = []
    transport = Transport()

    async def reads_after_looking(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(list(transport.writes))  # before the app asks for the body
        await echo(scope, receive, send)

    head = request("PUT", "/x", b"", "Expect: 100-continue", "Content-Length: 2")
    await connect(reads_after_looking, head, b"ok", transport=transport)
    assert seen == [[]]
    assert transport.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert responses(transport.buffer.split(b"\r\n\r\n", 1)[1]) == [answer("PUT", "/x", "ok")]
    assert len(transport.writes) == 2


async def test_an_app_failing_after_its_head_closes_the_connection_after_the_head_as_uvicorn_does():
    async def fails(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        raise RuntimeError("after the head")

    transport = await connect(fails, request("GET"))
    assert transport.closed
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"]


async def test_a_finished_request_is_freed_without_the_garbage_collector():
    # The response's transport held its request's cycle, which holds the transport: every request's
    # objects (scope, state, FastAPI's exit stacks) were garbage only the collector could free
    # (tests/modern/test_no_cycles.py has the whole app; docs/performance.md the measurement).
    class Marker:
        pass

    alive: list[weakref.ref[Marker]] = []

    async def marks(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["marker"] = marker = Marker()
        alive.append(weakref.ref(marker))
        del marker
        await echo(scope, receive, send)

    gc.disable()
    try:
        transport = await connect(marks, request("GET", "/a"), request("HEAD", "/b"), request("GET", "/c"))
        assert [write.split(b"\r\n", 1)[0] for write in transport.writes] == [b"HTTP/1.1 200 OK"] * 3
        # The last request's cycle is still the connection's own (the protocol and its parser hold each
        # other until the collector runs, as in uvicorn); the ones before it are gone.
        assert len(alive) == 3 and [ref() is None for ref in alive[:2]] == [True, True]
    finally:
        gc.enable()
