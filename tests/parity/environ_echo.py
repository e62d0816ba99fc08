"""A WSGI app that answers with the environ variables a request became, as JSON: the same under gunicorn
and under the in-process transport (tests/parity/test_wsgi_transport.py)."""

from __future__ import annotations

import json

SHOWN = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "HTTP_X_DUP", "HTTP_X_THING", "CONTENT_TYPE",
         "CONTENT_LENGTH")  # fmt: skip


def app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    shown = {key: environ.get(key) for key in SHOWN}
    shown["body"] = body.decode("latin-1")
    payload = json.dumps(shown).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("X-Echo", "caf\xe9")])
    return [payload]
