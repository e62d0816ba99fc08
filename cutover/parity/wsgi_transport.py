"""An httpx transport that calls a WSGI app in this process with the environ a WSGI server builds.

httpx's own ``WSGITransport`` puts the URL-decoded *text* of the path in ``PATH_INFO`` and decodes header
values as ASCII. A WSGI server follows PEP 3333: ``PATH_INFO`` is the path's bytes, percent-decoded, as a
latin-1 string, and so are header values; a header sent twice is one variable, its values joined with
``,`` (gunicorn, uWSGI, mod_wsgi). The difference shows on any path outside ASCII (``/api/notes/%C3%A9/``,
which Django decodes from those bytes as UTF-8): httpx's environ made Django fail it with
``UnicodeEncodeError`` where behind a server it answers, so the legacy could not be asked at all.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx

__all__ = ["ServerWSGITransport"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class ServerWSGITransport(httpx.BaseTransport):
    """Calls ``app`` as a WSGI server would (see the module docstring); the app's own errors are its
    answer (Django turns them into a 500), never raised here."""

    def __init__(self, app: Callable[..., Iterable[bytes]], remote_addr: str = "127.0.0.1") -> None:
        self.app = app
        self.remote_addr = remote_addr

    def environ(self, request: httpx.Request) -> dict[str, Any]:
        url = request.url
        path, _, query = url.raw_path.partition(b"?")
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": io.BytesIO(request.content),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": url.raw_path.decode("latin-1"),
            "SERVER_NAME": url.host,
            "SERVER_PORT": str(url.port or _DEFAULT_PORTS[url.scheme]),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.remote_addr,
        }
        for raw_name, raw_value in request.headers.raw:
            name = raw_name.decode("latin-1").upper().replace("-", "_")
            if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                name = f"HTTP_{name}"
            value = raw_value.decode("latin-1")
            environ[name] = f"{environ[name]},{value}" if name in environ else value
        return environ

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[..., Any]:
            started[:] = [status, headers]
            return lambda _: None

        result = self.app(self.environ(request), start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        return httpx.Response(
            int(status.split()[0]),
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            stream=httpx.ByteStream(body),  # as sent: no Content-Length made up where the app sent none
        )
