"""The port's HTTP/1.1 protocol for uvicorn (``uvicorn --http fastapi_app.protocol:LegacyHttpToolsProtocol``):
uvicorn's httptools protocol, taking the request methods gunicorn takes.

llhttp (httptools) parses a fixed list of methods and refuses any other, which uvicorn answers with
``400 Invalid HTTP request received.``; gunicorn takes any method of 3 to 20 token characters without
lower-case letters or ``#``, and Django answers it (DRF: 401, or 405 ``Method "FOO" not allowed.``).
Here, when llhttp refuses a request whose method gunicorn would take, that request is fed to a fresh
parser with a method llhttp knows in its place, and its scope gets the real method back before the app
runs: framing, keep-alive, pipelining and flow control stay uvicorn's own. A method gunicorn refuses
gets gunicorn's 400 page.

To find where the refused request starts, the protocol keeps the bytes fed since the parser was last
between two requests at the end of a read (for nearly every request: its own bytes, no copy), and counts
the requests that completed in them; the refused one starts where that many requests end, which a
throwaway parser finds again, on the error path only. (``--http h11`` takes any method too, but costs the
port about a quarter more CPU per request; measured in ``migration_notes/README.md``, "Direct access".)
Past ``_MAX_REPLAY`` bytes of requests sent without waiting for answers, an unknown method behind them
gets uvicorn's 400, as before.

Any refusal (gunicorn's pages, uvicorn's ``Invalid HTTP request received.``) is written after the answers
to the requests received whole before it, as gunicorn serves a connection's requests one at a time; a
duplicated ``Content-Length``, which llhttp refuses, gets gunicorn's page.

A response's status line and headers go out in one write with its first body bytes (uvicorn writes them
on ``http.response.start``, and the body after the app's next await): killed between those two writes,
the port would leave the front door holding headers it has already passed on, a request it can no longer
retry on Django; killed now, the front door has the whole answer or none of it. One write fewer per
response, too. A streamed response's headers wait for its first chunk.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .environ import GunicornError, accepts_method

__all__ = ["LegacyHttpToolsProtocol"]

# The methods llhttp parses in an HTTP request (llhttp 9, httptools 0.9); RTSP's and PRI are refused.
LLHTTP_METHODS = frozenset(
    b"ACL BIND CHECKOUT CONNECT COPY DELETE GET HEAD LINK LOCK M-SEARCH MERGE MKACTIVITY MKCALENDAR MKCOL "
    b"MOVE NOTIFY OPTIONS PATCH POST PROPFIND PROPPATCH PURGE PUT QUERY REBIND REPORT SEARCH SOURCE "
    b"SUBSCRIBE TRACE UNBIND UNLINK UNLOCK UNSUBSCRIBE".split()
)
# What llhttp is shown instead of an unknown method: any method without special framing (not CONNECT).
_STAND_IN = b"POST"
_MAX_REQUEST_LINE = 8190  # gunicorn's limit_request_line: a longer line is not waited for
_MAX_REPLAY = 1 << 20  # bytes kept to find a refused request behind others sent without waiting


_on_message_begin = HttpToolsProtocol.on_message_begin
_on_message_complete = HttpToolsProtocol.on_message_complete
_on_headers_complete = HttpToolsProtocol.on_headers_complete


class _OneWrite:
    """A response's transport, holding its head (the first write once the response has started) for the
    write of its first body bytes; ``100 Continue``, written before, is not held, nor the head of an
    answer to HEAD (uvicorn writes nothing more for it)."""

    __slots__ = ("_transport", "_cycle", "_head", "_waiting")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport, self._cycle = transport, cycle  # the cycle until its response starts
        self._head: bytes | None = None
        self._waiting = True

    def write(self, data: bytes) -> None:
        if self._waiting and self._cycle.response_started:
            self._waiting = False
            held = self._cycle.scope["method"] != "HEAD"
            # The cycle holds this transport: let go of it now, or every request's objects (its scope,
            # its state, FastAPI's exit stacks) stay in a reference cycle that only the collector frees.
            self._cycle = None
            if held:
                self._head = data
                return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:  # the app failed after starting: what uvicorn would have sent
            self._transport.write(self._head)
            self._head = None
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Counter:
    def __init__(self) -> None:
        self.completed = 0

    def on_message_complete(self) -> None:
        self.completed += 1


def _parser(protocol: object) -> httptools.HttpRequestParser:
    parser = httptools.HttpRequestParser(protocol)
    parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn's
    return parser


def _completed(data: bytes) -> int:
    counter = _Counter()
    try:
        _parser(counter).feed_data(data)
    except httptools.HttpParserError:
        pass
    return counter.completed


def _end_of(data: bytes, requests: int) -> int:
    """Where the first ``requests`` requests of ``data`` end (``data`` starts with a request)."""
    if requests == 0:
        return 0
    low, high = 0, len(data)  # the smallest prefix in which that many requests complete
    while low < high:
        middle = (low + high) // 2
        if _completed(data[:middle]) >= requests:
            high = middle
        else:
            low = middle + 1
    return low


class LegacyHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._fed: list[bytes] | None = []  # since the parser was last between requests; None: too much
        self._fed_size = 0
        self._begun = self._completed = 0
        self._held = b""  # the start of a request whose method is not all here yet
        self._method: str | None = None  # the real method of the request fed with the stand-in
        self._refusal: bytes | None = None  # written once the answers to the requests before it are

    # Parser callbacks (on every request: the base class's called directly, cheaper than super()).
    def on_message_begin(self) -> None:
        self._begun += 1
        _on_message_begin(self)

    def on_message_complete(self) -> None:
        self._completed += 1
        _on_message_complete(self)

    def on_headers_complete(self) -> None:
        cycle = self.cycle
        _on_headers_complete(self)
        if self.cycle is not cycle:  # a cycle for this request (not an upgrade): before its task runs
            self.cycle.transport = _OneWrite(self.transport, self.cycle)  # type: ignore[assignment]
        if self._method is not None:
            # Before the app's task runs (it was only created): the app, the access log and the
            # response (HEAD or not) all read this.
            self.scope["method"], self._method = self._method, None

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        pending: bytes | None = data
        if self._held:
            held, self._held = self._held, b""
            pending = self._unknown_method(held + data)
        while pending is not None:
            pending = self._feed(pending)

    def _feed(self, data: bytes) -> bytes | None:
        """Feed llhttp; the bytes to feed next when it refused a method gunicorn takes."""
        if self._begun == self._completed:  # between requests: a new request starts with these bytes
            self._fed, self._fed_size = [data], len(data)
            self._begun = self._completed = 0
        elif self._fed is not None:
            self._fed.append(data)
            self._fed_size += len(data)
            if self._fed_size > _MAX_REPLAY:
                self._fed = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            if self._fed is not None:
                fed = b"".join(self._fed)
                request = fed[_end_of(fed, self._completed) :]
                if _method_of(request) not in LLHTTP_METHODS:
                    self.parser = _parser(self)
                    self._fed, self._fed_size, self._begun, self._completed = [], 0, 0, 0
                    return self._unknown_method(request)
            if str(exc) == "Duplicate Content-Length":
                self._refuse(GunicornError.invalid_header(b"content-length"))
            else:
                self._invalid()
        return None

    def _unknown_method(self, data: bytes) -> bytes | None:
        """``data`` starts with a request llhttp cannot parse: its bytes with the stand-in method, or None
        (held until its request line is here, or refused as gunicorn refuses it)."""
        start = len(data) - len(data.lstrip(b"\r\n"))
        line_end = data.find(b"\r\n", start)
        if line_end == -1:
            if len(data) - start <= _MAX_REQUEST_LINE:
                self._held = data
            else:
                self._invalid()
            return None
        line = data[start:line_end]
        bits = line.split(b" ", 2)
        if len(bits) != 3:
            self._refuse(GunicornError.invalid_request_line(line))
            return None
        method = bits[0]
        if not accepts_method(method):
            self._refuse(GunicornError.invalid_method(method))
            return None
        if method in LLHTTP_METHODS:  # llhttp refused something else in this request
            self._invalid()
            return None
        self._method = method.decode("ascii")
        return data[:start] + _STAND_IN + data[start + len(method) :]

    def _invalid(self) -> None:
        self.logger.warning("Invalid HTTP request received.")
        self.send_400_response("Invalid HTTP request received.")

    def _refuse(self, error: GunicornError) -> None:
        self.logger.warning("Invalid request: %s", error.message)
        self._close_with(error.raw_response())

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to bytes llhttp refuses, after the answers to the requests before them (as
        # gunicorn, which serves a connection's requests one by one).
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.append(b"content-type: text/plain; charset=utf-8\r\n")
        content.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(msg))
        content.append(msg.encode("ascii"))
        self._close_with(b"".join(content))

    def _close_with(self, response: bytes) -> None:
        self._refusal = response
        self.flow.pause_reading()
        newest = self.pipeline[0][0] if self.pipeline else self.cycle
        # Wait for the apps of the requests received whole; not for one whose own bytes were refused.
        if newest is None or newest.response_complete or newest.more_body:
            self._send_refusal()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refusal is not None and not self.pipeline and self.cycle.response_complete:
            self._send_refusal()

    def _send_refusal(self) -> None:
        refusal, self._refusal = self._refusal, None
        if refusal is None or self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.transport.write(refusal)
        self.transport.close()


def _method_of(request: bytes) -> bytes:
    stripped = request.lstrip(b"\r\n")
    end = stripped.find(b" ")
    return stripped[:end] if end != -1 else stripped
