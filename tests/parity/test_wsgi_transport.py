"""The legacy in-process gets the environ a WSGI server builds: the same variables as under gunicorn for
paths outside ASCII (PEP 3333: the path's bytes as latin-1), bytes that are no UTF-8, header values beyond
ASCII and a header sent twice, where httpx's own WSGI transport differs (and Django failed the request)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cutover.parity.wsgi_transport import ServerWSGITransport
from tests.ports import free_port

from . import environ_echo

ROOT = Path(__file__).resolve().parents[2]

REQUESTS = [
    ("GET", "/plain/", {}, b""),
    ("GET", "/caf%C3%A9/", {}, b""),  # UTF-8 outside ASCII
    ("GET", "/%FF%FE/", {}, b""),  # no UTF-8 at all
    ("GET", "/a%2Fb/?q=caf%C3%A9&x=1", {}, b""),  # an encoded slash stays one
    ("POST", "/form/", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1"),
]


@pytest.fixture(scope="module")
def gunicorn() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--no-control-socket",
         "tests.parity.environ_echo:app"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/plain/")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def _send(client: httpx.Client, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    extra = [("X-Dup", "first"), ("X-Dup", "second"), ("X-Thing", b"caf\xe9")]
    return client.request(method, path, headers=[*headers.items(), *extra], content=body)


@pytest.mark.parametrize(("method", "path", "headers", "body"), REQUESTS, ids=[r[1] for r in REQUESTS])
def test_the_environ_is_gunicorns(gunicorn, method, path, headers, body):
    with httpx.Client(base_url=gunicorn) as served:
        expected = _send(served, method, path, headers, body)
    with httpx.Client(transport=ServerWSGITransport(environ_echo.app), base_url="http://testserver") as called:
        got = _send(called, method, path, headers, body)
    assert got.status_code == expected.status_code == 200
    assert got.json() == expected.json()
    assert got.headers["x-echo"] == expected.headers["x-echo"] == "café"  # a latin-1 header value back


def test_httpx_s_own_transport_differs_where_it_matters(gunicorn):
    """Why the toolkit has its own: httpx's gives the path's text, drops a repeated header's first value,
    and fails on a response header beyond ASCII."""

    def ascii_headers_only(environ, start_response):
        return environ_echo.app(environ, lambda status, headers: start_response(status, headers[:1]))

    twice = [("X-Dup", "a"), ("X-Dup", "b")]
    with httpx.Client(base_url=gunicorn) as served:
        expected = served.get("/caf%C3%A9/", headers=twice).json()
    with httpx.Client(transport=httpx.WSGITransport(app=ascii_headers_only), base_url="http://x") as own:
        got = own.get("/caf%C3%A9/", headers=twice).json()
    assert expected["PATH_INFO"] == "/caf\xc3\xa9/" != got["PATH_INFO"]
    assert expected["HTTP_X_DUP"] == "a,b" != got["HTTP_X_DUP"]
    with httpx.Client(transport=httpx.WSGITransport(app=environ_echo.app), base_url="http://x") as own:
        with pytest.raises(UnicodeEncodeError):
            own.get("/plain/")
