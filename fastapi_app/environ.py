"""The request head as gunicorn hands it to Django (its WSGI environ), applied to the ASGI scope once.

Django reads headers from ``request.META``, which gunicorn builds (``gunicorn/http/message.py``
``_apply_header_policy`` and ``set_body_reader``, ``gunicorn/http/wsgi.py`` ``create``; gunicorn 27 with
its defaults). The port reads ``scope["headers"]``; so that both judge the same values, that list is
rewritten first (``LegacyMiddleware``), as gunicorn would have:

- values lose surrounding spaces and tabs (llhttp keeps trailing ones);
- a repeated field becomes one, its values joined with ``","`` in order (``HTTP_AUTHORIZATION`` of two
  ``Authorization`` lines is ``"Token a,Token b"``, which DRF refuses: "should not contain spaces");
- a second ``Host`` or ``Content-Type`` is refused (a 400: RFC 9110 singletons), as is a duplicated
  ``Content-Length`` (llhttp refuses that one before the app);
- ``Expect`` other than ``100-continue`` is refused with 417;
- names with an underscore are dropped (``header_map = "drop"``: ``X_Forwarded_Host`` and
  ``X-Forwarded-Host`` would land on one environ key);
- from a trusted peer (``FORWARDED_ALLOW_IPS``, gunicorn's and uvicorn's variable, ``127.0.0.1,::1`` by
  default) ``X-Forwarded-Proto: https``, ``X-Forwarded-Ssl: on`` and ``X-Forwarded-Protocol: ssl`` set
  the scheme (``wsgi.url_scheme``, which Django falls back to without ``X-Forwarded-Proto``), and headers
  that contradict each other are refused.

A refusal is gunicorn's own answer, written before any Django middleware: its small HTML page with
``Connection: close``. Requests with none of this to do (no repeated, underscored, ``Expect`` or
scheme-setting field and no trailing blanks: nearly all of them) cost one pass over the header names.
"""

from __future__ import annotations

import html
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import Scope, Send

__all__ = ["GunicornError", "TrustedPeers", "accepts_method", "apply_gunicorn_headers"]

_SINGLETONS = frozenset({b"host", b"content-type"})
_SECURE_SCHEME_HEADERS = {
    b"x-forwarded-protocol": b"ssl",
    b"x-forwarded-proto": b"https",
    b"x-forwarded-ssl": b"on",
}
# Fields whose presence alone means work: Expect is judged, these two set the scheme (X-Forwarded-Proto
# alone needs nothing: Django reads it itself, and one header cannot contradict another).
_ATTENTION = frozenset({b"expect", b"x-forwarded-protocol", b"x-forwarded-ssl"})
_BLANKS = b" \t"
_TRAILING_BLANK = re.compile(rb"[ \t]\n")

# gunicorn.http.message: TOKEN_RE, and the "conventional method" rule (no lower case or "#", 3-20 long).
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-zA-Z]+")
_METHOD_BADCHAR = re.compile(rb"[a-z#]")


@dataclass(frozen=True)
class GunicornError:
    """One of gunicorn's own refusals (``Worker.handle_error``): status, reason phrase, message."""

    status: int
    reason: str
    message: str

    def page(self) -> bytes:
        """gunicorn's ``util.write_error`` body."""
        reason, message = self.reason, html.escape(self.message)
        return (
            f"<html>\n  <head>\n    <title>{reason}</title>\n  </head>\n  <body>\n"
            f"    <h1><p>{reason}</p></h1>\n    {message}\n  </body>\n</html>\n"
        ).encode("latin-1")

    def raw_response(self) -> bytes:
        """The whole response as gunicorn writes it on the socket."""
        page = self.page()
        head = (
            f"HTTP/1.1 {self.status} {self.reason}\r\nConnection: close\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(page)}\r\n\r\n"
        )
        return head.encode("latin-1") + page

    async def send(self, send: Send) -> None:
        """The same answer through ASGI (the server closes the connection after it)."""
        page = self.page()
        headers = [
            (b"connection", b"close"),
            (b"content-type", b"text/html"),
            (b"content-length", str(len(page)).encode()),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": page})

    @classmethod
    def invalid_header(cls, name: bytes) -> GunicornError:
        return cls(400, "Bad Request", f"Invalid HTTP Header: {name.decode('latin-1').upper()!r}")

    @classmethod
    def invalid_method(cls, method: bytes) -> GunicornError:
        return cls(400, "Bad Request", f"Invalid Method 'Invalid HTTP method: {method.decode('latin-1')!r}'")

    @classmethod
    def invalid_request_line(cls, line: bytes) -> GunicornError:
        text = f"Invalid HTTP request line: {line.decode('latin-1')!r}"
        return cls(400, "Bad Request", f"Invalid Request Line '{text}'")


def accepts_method(method: bytes) -> bool:
    """Whether gunicorn takes ``method`` (its defaults: no ``permit_unconventional_http_method``)."""
    return 3 <= len(method) <= 20 and not _METHOD_BADCHAR.search(method) and bool(_TOKEN.fullmatch(method))


class TrustedPeers:
    """gunicorn's ``forwarded_allow_ips``: addresses and networks, or ``*``; a peer without an address
    (a unix socket) is trusted."""

    def __init__(self, allowed: Sequence[str]) -> None:
        self.anyone = "*" in allowed
        self.networks = [ipaddress.ip_network(a.strip()) for a in allowed if a.strip() not in ("*", "")]

    def __contains__(self, client: object) -> bool:
        if self.anyone or not client:
            return True
        try:
            address = ipaddress.ip_address(client[0])  # type: ignore[index]
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def apply_gunicorn_headers(scope: Scope, trusted: TrustedPeers) -> GunicornError | None:
    """Rewrite ``scope["headers"]`` (and ``scope["scheme"]``) as gunicorn builds the environ, or return the
    refusal gunicorn answers instead."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    # The fast path, in C: no repeated name, none to judge, no underscore, no trailing blank.
    fields = dict(headers)
    if (
        len(fields) == len(headers)
        and _ATTENTION.isdisjoint(fields)
        and b"_" not in b"".join(fields)
        and not _TRAILING_BLANK.search(b"\n".join(fields.values()) + b"\n")
    ):
        return None
    return _rewrite(scope, trusted)


def _rewrite(scope: Scope, trusted: TrustedPeers) -> GunicornError | None:
    joined: dict[bytes, list[bytes]] = {}
    scheme: str | None = None
    peer_trusted: bool | None = None
    for name, raw in scope["headers"]:
        value = raw.strip(_BLANKS)
        if name in _SINGLETONS and name in joined:
            return GunicornError.invalid_header(name)
        if name == b"expect" and value.lower() != b"100-continue":
            return GunicornError(
                417, "Expectation Failed", f"Unable to comply with expectation: {value.decode('latin-1')!r}"
            )
        secure_value = _SECURE_SCHEME_HEADERS.get(name)
        if secure_value is not None:
            if peer_trusted is None:
                peer_trusted = scope.get("client") in trusted
            if peer_trusted:
                this = "https" if value == secure_value else "http"
                if scheme is not None and this != scheme:
                    return GunicornError(400, "Bad Request", "Contradictory scheme headers")
                scheme = this
        if b"_" in name:
            continue  # header_map = "drop"
        joined.setdefault(name, []).append(value)
    if len(joined.get(b"content-length", ())) > 1:
        return GunicornError.invalid_header(b"content-length")  # set_body_reader, once the head is read
    scope["headers"] = [(name, b",".join(values)) for name, values in joined.items()]
    if scheme is not None:
        scope["scheme"] = scheme
    return None
