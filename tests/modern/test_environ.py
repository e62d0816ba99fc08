"""``fastapi_app/environ.py`` against gunicorn itself: the same request head goes through gunicorn's parser
and ``wsgi.create`` (the environ Django reads) and through llhttp (what uvicorn puts in the ASGI scope)
plus the port's rewrite; the headers, the scheme and the refusals must agree."""

from __future__ import annotations

from typing import Any

import httptools
import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.errors import (
    ExpectationFailed,
    InvalidHeader,
    InvalidRequestLine,
    InvalidRequestMethod,
    InvalidSchemeHeaders,
)
from gunicorn.http.parser import RequestParser
from gunicorn.util import write_error

from fastapi_app.environ import GunicornError, TrustedPeers, accepts_method, apply_gunicorn_headers

TRUSTED = TrustedPeers(["127.0.0.1", "::1"])


class _Socket:
    def send(self, data: bytes) -> None:  # gunicorn writes "100 Continue" here
        pass


def gunicorn_view(head: bytes, peer: str) -> tuple[dict[str, str], str] | tuple[int, str]:
    """The environ's header keys and ``wsgi.url_scheme``, or gunicorn's refusal (status, message)."""
    cfg = Config()
    try:
        request = next(RequestParser(cfg, iter([head]), (peer, 40000)))
        _, environ = wsgi.create(request, _Socket(), (peer, 40000), "127.0.0.1:8001", cfg)
    except ExpectationFailed as exc:
        return 417, str(exc)
    except (InvalidHeader, InvalidSchemeHeaders) as exc:
        return 400, str(exc)
    keys = {
        k: v for k, v in environ.items() if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")
    }
    return keys, environ["wsgi.url_scheme"]


class _Collect:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))  # as uvicorn's httptools protocol stores them


def port_view(head: bytes, peer: str) -> tuple[dict[str, str], str] | tuple[int, str]:
    collected = _Collect()
    try:
        httptools.HttpRequestParser(collected).feed_data(head)
    except httptools.HttpParserError:
        return 400, "refused by llhttp"
    scope: dict[str, Any] = {"headers": collected.headers, "scheme": "http", "client": (peer, 40000)}
    refusal = apply_gunicorn_headers(scope, TRUSTED)
    if refusal is not None:
        return refusal.status, refusal.message
    keys = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        keys[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value.decode("latin-1")
    return keys, scope["scheme"]


HEADS = {
    "plain": [("Accept", "application/json"), ("Authorization", "Token abc")],
    "same token twice": [("Authorization", "Token abc"), ("Authorization", "Token abc")],
    "two tokens": [("Authorization", "Token abc"), ("authorization", "Token def")],
    "three accepts": [("Accept", "text/html"), ("X-A", "1"), ("Accept", "application/json"), ("ACCEPT", "*/*")],
    "two cookies": [("Cookie", "sessionid=abcdefgh123"), ("Cookie", "csrftoken=xyz")],
    "trailing blanks": [("X-Forwarded-Host", "localhost  "), ("Authorization", "Token abc\t")],
    "empty value": [("X-Empty", ""), ("X-Empty", "")],
    "underscores": [("X_Forwarded_Host", "evil.example.com"), ("X-Forwarded-Host", "localhost"), ("a_b", "1")],
    "two hosts": [("Host", "localhost")],
    "two content types": [("Content-Type", "application/json"), ("Content-Type", "text/plain")],
    "expect garbage": [("Expect", "garbage")],
    "expect continue": [("Expect", "100-Continue"), ("Content-Length", "0")],
    "expect after a bad host": [("Host", "x"), ("Expect", "nope")],
    "ssl on": [("X-Forwarded-Ssl", "on")],
    "ssl off": [("X-Forwarded-Ssl", "off")],
    "protocol ssl": [("X-Forwarded-Protocol", "ssl"), ("X-Forwarded-Proto", "https")],
    "contradictory scheme": [("X-Forwarded-Ssl", "on"), ("X-Forwarded-Proto", "http")],
    "two protos": [("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")],
    "two protos and ssl": [("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on")],
}  # fmt: skip


def head_of(headers: list[tuple[str, str]]) -> bytes:
    lines = ["GET /api/users/ HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@pytest.mark.parametrize("peer", ["127.0.0.1", "203.0.113.9"])
@pytest.mark.parametrize("case", HEADS)
def test_the_port_sees_the_headers_django_sees_under_gunicorn(case, peer):
    head = head_of(HEADS[case])
    assert port_view(head, peer) == gunicorn_view(head, peer)


def test_headers_with_nothing_to_do_are_left_as_they_are():
    headers = [(b"host", b"x"), (b"authorization", b"Token abc"), (b"accept", b"*/*")]
    scope: dict[str, Any] = {"headers": headers, "scheme": "http", "client": ("127.0.0.1", 1)}
    assert apply_gunicorn_headers(scope, TRUSTED) is None
    assert scope["headers"] is headers


def test_joined_fields_keep_the_place_of_their_first_line():
    scope: dict[str, Any] = {
        "headers": [(b"a", b"1"), (b"b", b"2"), (b"a", b"3 "), (b"c", b"4")],
        "scheme": "http",
        "client": None,
    }
    assert apply_gunicorn_headers(scope, TRUSTED) is None
    assert scope["headers"] == [(b"a", b"1,3"), (b"b", b"2"), (b"c", b"4")]


class _Capture:
    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.data += data


@pytest.mark.parametrize(
    ("error", "status", "reason", "message"),
    [
        (GunicornError.invalid_method(b"foo"), 400, "Bad Request", f"Invalid Method '{InvalidRequestMethod('foo')}'"),
        (GunicornError.invalid_header(b"host"), 400, "Bad Request", str(InvalidHeader("HOST"))),
        (GunicornError.invalid_request_line(b"FOO"), 400, "Bad Request", f"Invalid Request Line '{InvalidRequestLine('FOO')}'"),
    ],
)  # fmt: skip
def test_refusals_are_gunicorns_pages_byte_for_byte(error, status, reason, message):
    # Worker.handle_error's status, reason and message for the exception, written by gunicorn's write_error.
    sock = _Capture()
    write_error(sock, status, reason, message)
    assert error.raw_response() == sock.data


@pytest.mark.parametrize(
    ("method", "accepted"),
    [
        (b"GET", True), (b"FOO", True), (b"M-SEARCH", True), (b"X!$%&'*+.^_`|~9", True), (b"A" * 20, True),
        (b"foo", False), (b"Foo", False), (b"F#O", False), (b"GE", False), (b"A" * 21, False),
        (b"FO/O", False), (b"FO(O", False), (b"", False),
    ],
)  # fmt: skip
def test_methods_are_those_gunicorn_accepts(method, accepted):
    try:
        next(RequestParser(Config(), iter([method + b" / HTTP/1.1\r\nHost: x\r\n\r\n"]), ("127.0.0.1", 1)))
        gunicorn_accepts = True
    except (InvalidRequestMethod, InvalidRequestLine):
        gunicorn_accepts = False
    assert accepts_method(method) is accepted is gunicorn_accepts


def test_trusted_peers_are_gunicorns_forwarded_allow_ips():
    peers = TrustedPeers(["10.0.0.0/8", "::1"])
    assert ("10.1.2.3", 1) in peers and ("::1", 1) in peers and None in peers
    assert ("11.0.0.1", 1) not in peers and ("testclient", 1) not in peers
    assert ("198.51.100.7", 1) in TrustedPeers(["*"])
