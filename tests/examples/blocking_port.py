"""The catalog port with the classic async mistakes, for ``cutover parity``'s blocking-call detector.

Served in-process by ``cutover parity --modern-app blocking_port:app`` in the example's own virtualenv
(``PYTHONPATH`` naming this folder). Each mistake is patched into the port's own code, so that the
project frame the detector names is the catalog's handler that made the call; the answers are unchanged:
parity matches, and only the detector can tell.

- ``product-detail``: a synchronous SQLAlchemy session (the tutorials' ``SessionLocal``) on psycopg
  inside the view's ``initial()``, and ``time.sleep`` in the id check;
- ``products`` GET and HEAD: a blocking HTTP client (urllib) asked for the page size;
- ``products`` POST: a password-strength hash (PBKDF2) computed on the loop before validation.
"""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.request
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import catalog_api.routes.products as products
from catalog_api.deps import View
from catalog_api.main import create_app
from catalog_api.models import Product
from catalog_api.settings import get_settings
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool


@cache
def _sync_sessions() -> sessionmaker[Session]:
    url = get_settings().sqlalchemy_url().set(drivername="postgresql+psycopg")
    return sessionmaker(create_engine(url, poolclass=NullPool))  # nothing stays connected


class _SyncSessionView(View):
    async def initial(self, request: Any, session: Any) -> Any:
        with _sync_sessions()() as db:  # the mistake: a sync session inside async def
            db.scalar(select(func.count()).select_from(Product))
        return await super().initial(request, session)


products.DETAIL = _SyncSessionView(products.DETAIL.allow)


class _SleepyRange:
    def __contains__(self, pk: object) -> bool:
        time.sleep(0.02)  # the mistake: time.sleep inside async def
        return isinstance(pk, int) and -(2**63) <= pk < 2**63


products._INT8 = _SleepyRange()  # type: ignore[assignment]


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"20")

    def log_message(self, *args: Any) -> None:
        pass


_server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
threading.Thread(target=_server.serve_forever, daemon=True).start()
_limit_of = products.limit_of


def _limit_from_a_service(request: Any) -> int:
    # the mistake: a blocking HTTP client inside async def
    with urllib.request.urlopen(f"http://127.0.0.1:{_server.server_address[1]}/", timeout=10) as answer:
        answer.read()
    return _limit_of(request)


products.limit_of = _limit_from_a_service
_validate_product = products.validate_product


async def _validate_after_hashing(data: Any, session: Any) -> Any:
    hashlib.pbkdf2_hmac("sha256", b"an API key", b"salt", 200_000)  # the mistake: hashing on the loop
    return await _validate_product(data, session)


products.validate_product = _validate_after_hashing

app = create_app()
