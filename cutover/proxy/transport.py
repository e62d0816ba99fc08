"""The legacy server's limits on the request head, enforced by the front door on what it forwards.

gunicorn refuses a request line longer than ``limit_request_line`` (414), more header fields than
``limit_request_fields`` or a field line longer than ``limit_request_field_size`` (431), and request lines
outside its grammar (400). uvicorn has no such limits, so a request that reaches the two apps directly can be
refused by one and served by the other. The manifest's ``[proxy]`` table holds the limits once: the renderer
turns them into nginx checks on the request nginx is about to forward (its rebuilt request line, the client's
headers minus those it replaces, plus those it sets), and ``cutover up`` passes the same numbers to gunicorn
(:func:`gunicorn_args`). Behind the front door a request is therefore either answered by nginx, whatever
the route's backend, or reaches that backend within limits both apps accept.

Counting header fields needs njs (nginx has no variable for it): :data:`NJS_SOURCE` is the module the
rendered configuration imports, written into the nginx prefix by :meth:`cutover.proxy.nginx.Nginx.prepare`.
nginx calls it only for request heads long enough to break a limit (:func:`njs_threshold`), so a short API
request (a GET with a token) costs no JavaScript; a longer head costs one njs call, which tells most heads
apart from lengths alone and counts field by field only when that cannot. The header names it must know
(those nginx sets, drops or replaces) are defined here, beside it, and the renderer takes them from here.
"""

from __future__ import annotations

import math
from pathlib import Path

from .manifest import ProxySettings, load_manifest

NJS_DIR = "njs"
NJS_FILE = "cutover_transport.js"

# nginx sends "<method> <request_uri> HTTP/1.1" to the apps (proxy_http_version 1.1): the bytes around
# "$request_method $request_uri" in the line gunicorn measures.
FORWARDED_VERSION = " HTTP/1.1"

# The headers nginx sets toward both apps, replacing any the client sent (both apps trust them, so they
# are overwritten, never passed through), and the nginx variable each comes from. None is ever empty.
SET_HEADERS = (
    ("Host", "cutover_forwarded_host"),
    ("X-Forwarded-For", "proxy_add_x_forwarded_for"),
    ("X-Forwarded-Proto", "scheme"),
    ("X-Forwarded-Host", "cutover_forwarded_host"),
)
# Dropped: upstream keep-alive needs no Connection header, and gunicorn also reads the scheme from the other
# two (its secure_scheme_headers) and refuses a request where they contradict X-Forwarded-Proto, which
# uvicorn ignores: a client could otherwise get a 400 from Django and a 200 from FastAPI.
DROPPED_HEADERS = ("Connection", "X-Forwarded-Ssl", "X-Forwarded-Protocol")
# The client headers nginx's proxy module never passes on, whatever the configuration sets: it sends its
# own Host, Connection, Content-Length and Transfer-Encoding, and drops the rest (ngx_http_proxy_headers).
NGINX_REPLACED_HEADERS = (
    "Host",
    "Connection",
    "Content-Length",
    "Transfer-Encoding",
    "TE",
    "Keep-Alive",
    "Expect",
    "Upgrade",
)
# njs reads a variable by name, which nginx does not allow for some of its own: the configuration gives
# these an alias (a map) under this name.
NJS_ALIASES = {"proxy_add_x_forwarded_for": "cutover_forwarded_for"}

# The smallest header line nginx accepts, "a:" and a bare LF: a head with fewer bytes than three per field
# cannot carry too many of them.
_MIN_FIELD_BYTES = 3
# What a header nginx sets can add to the client bytes it is built from: "X-Forwarded-Host: " for the
# client's Host value, "X-Forwarded-For: " and ", <client address>" around the client's X-Forwarded-For.
_FORWARDED_GROWTH = 128


def _replaced() -> list[str]:
    """Every header nginx sets or drops is one it never passes on from the client."""
    names = (*NGINX_REPLACED_HEADERS, *DROPPED_HEADERS, *(name for name, _ in SET_HEADERS))
    return sorted({name.lower() for name in names})


_NJS_TEMPLATE = r"""// Written by cutover (cutover/proxy/transport.py) into the nginx prefix; do not edit.
// The legacy server's header limits, applied to the header block nginx is about to forward: the client's
// fields but those nginx replaces (REPLACED), plus those it sets (SET, each from a variable) and
// Content-Length with a body; each forwarded as the line "Name: value\r\n".
// The manifest's limits: $cutover_header_limits, "<limit_request_fields> <limit_request_field_size>".

const REPLACED = @REPLACED@;
const SET = @SET@;
const GROWTH = @GROWTH@;

// njs gives header values as UTF-8 strings, an invalid sequence of 1 to 3 bytes becoming one U+FFFD:
// the byte length is computed only when the string's length leaves the answer open, and read from the
// raw variable when the replacement characters do. A field that may be too long counts as too long: nginx
// then refuses it for every backend alike.
function tooLong(r, name, value, variable, limit) {
    const fixed = name.length + 4;
    if (fixed + 4 * value.length <= limit) {
        return false;
    }
    if (fixed + value.length > limit) {
        return true;
    }
    const upper = Buffer.byteLength(value);
    const lower = upper - 2 * (value.split("\uFFFD").length - 1);
    if (fixed + lower > limit) {
        return true;
    }
    if (fixed + upper <= limit) {
        return false;
    }
    const raw = r.rawVariables[variable];
    return raw === undefined || fixed + raw.length > limit;
}

// The exact count and sizes, field by field.
function exact(r, raw, maxFields, maxSize) {
    let count = SET.length;
    let body = false;
    for (let i = 0; i < raw.length; i++) {
        const name = raw[i][0];
        const key = name.toLowerCase();
        if (REPLACED[key] === 1) {
            body = body || key === "content-length" || key === "transfer-encoding";
            continue;
        }
        count += 1;
        if (tooLong(r, name, raw[i][1], "http_" + key.split("-").join("_"), maxSize)) {
            return "431";
        }
    }
    if (count + (body ? 1 : 0) > maxFields) {
        return "431";
    }
    for (let i = 0; i < SET.length; i++) {
        if (tooLong(r, SET[i][0], r.variables[SET[i][1]] || "", SET[i][1], maxSize)) {
            return "431";
        }
    }
    return "";
}

// "431" when the forwarded head has more fields than the legacy server accepts or a longer one, else "".
// Most heads cannot break a limit whatever nginx replaces, and are told apart with lengths alone (a
// character is at most 4 bytes): few enough fields counting every one nginx may add, no line that could be
// too long, and values too short for the headers nginx builds from them (the client's Host and
// X-Forwarded-For, plus at most GROWTH bytes) to be; with a Host header, since without one the host comes
// from the request line.
function forwardedFields(r) {
    const limits = r.variables.cutover_header_limits.split(" ");
    const maxFields = Number(limits[0]);
    const maxSize = Number(limits[1]);
    const raw = r.rawHeadersIn;
    let clear = raw.length + SET.length + 1 <= maxFields && Boolean(r.headersIn.Host);
    let chars = 0;
    for (let i = 0; clear && i < raw.length; i++) {
        const value = raw[i][1];
        chars += value.length;
        clear = raw[i][0].length + 4 + 4 * value.length <= maxSize;
    }
    if (clear && 4 * chars + GROWTH <= maxSize) {
        return "";
    }
    return exact(r, raw, maxFields, maxSize);
}

export default { forwardedFields };
"""


def _njs_source() -> str:
    replaced = "{" + ", ".join(f'"{name}": 1' for name in _replaced()) + "}"
    set_headers = ", ".join(f'["{name}", "{NJS_ALIASES.get(var, var)}"]' for name, var in SET_HEADERS)
    return (
        _NJS_TEMPLATE.replace("@REPLACED@", replaced)
        .replace("@SET@", f"[{set_headers}]")
        .replace("@GROWTH@", str(_FORWARDED_GROWTH))
    )


NJS_SOURCE = _njs_source()


def write_njs_module(prefix: Path) -> Path:
    """Write the njs module into the nginx prefix (where the rendered configuration imports it from)."""
    directory = prefix / NJS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / NJS_FILE
    if not path.exists() or path.read_text(encoding="utf-8") != NJS_SOURCE:
        path.write_text(NJS_SOURCE, encoding="utf-8")
    return path


def header_buffers(proxy: ProxySettings) -> tuple[int, int]:
    """``large_client_header_buffers`` (number, KiB) that hold any request head the legacy server accepts.

    nginx keeps each header line whole in one buffer and answers by itself (414 for the request line, 400
    or, with the configuration's ``error_page``, 431 for a header) once a line or the head does not fit.
    A buffer of twice the longest line the legacy server allows holds at least two such lines, so half as
    many buffers as fields hold its largest head; a few more cover the request line and the headers nginx
    replaces (which count at nginx, not at the legacy server). Memory is taken only by heads that need it.
    """
    longest = max(proxy.limit_request_line + 2, proxy.limit_request_field_size)
    size_kib = math.ceil(2 * longest / 1024)
    return math.ceil(proxy.limit_request_fields / 2) + 4, size_kib


def line_threshold(proxy: ProxySettings) -> int:
    """The length of ``"$request_method $request_uri"`` from which the forwarded request line is too long."""
    return proxy.limit_request_line - len(FORWARDED_VERSION) + 1


def njs_threshold(proxy: ProxySettings, set_headers: int = len(SET_HEADERS) + 1) -> int:
    """The ``$request_length`` (the head, when the checks run) below which no header limit can be broken.

    Too many fields needs at least ``limit_request_fields - set_headers`` client fields of at least three
    bytes each (``set_headers`` counts the headers nginx adds: those it sets, and Content-Length with a
    body); a field line too long needs a client line nearly as long.
    """
    fields = _MIN_FIELD_BYTES * max(proxy.limit_request_fields - set_headers, 0)
    return max(min(fields, proxy.limit_request_field_size - _FORWARDED_GROWTH), 0)


def below(n: int) -> str:
    """A regular expression matching the decimal integers from 0 to ``n - 1`` (as nginx prints them)."""
    if n <= 0:
        return "(?!)"
    if n <= 10:
        return f"^[0-{n - 1}]$"
    digits = str(n)
    parts = [rf"\d{{1,{len(digits) - 1}}}"]  # every shorter number
    for i, char in enumerate(digits):
        # the same leading digits, then a smaller digit here, then any digits
        low, high = (1 if i == 0 else 0), int(char) - 1
        if high >= low:
            rest = len(digits) - i - 1
            choice = str(low) if high == low else f"[{low}-{high}]"
            parts.append(digits[:i] + choice + (rf"\d{{{rest}}}" if rest else ""))
    return "^(?:" + "|".join(parts) + ")$"


def gunicorn_args(proxy: ProxySettings) -> list[str]:
    """gunicorn's options for the same limits, so the legacy server and the front door never disagree."""
    return [
        "--limit-request-line", str(proxy.limit_request_line),
        "--limit-request-fields", str(proxy.limit_request_fields),
        "--limit-request-field_size", str(proxy.limit_request_field_size),
    ]  # fmt: skip


def legacy_server_args(manifest: Path) -> list[str]:
    """:func:`gunicorn_args` for the manifest at ``manifest``; gunicorn's defaults when there is none yet
    (no front door can run without one, so there is nothing to disagree with)."""
    proxy = load_manifest(manifest).proxy if manifest.exists() else ProxySettings()
    return gunicorn_args(proxy)


__all__ = [
    "NJS_FILE",
    "NJS_SOURCE",
    "gunicorn_args",
    "header_buffers",
    "legacy_server_args",
    "line_threshold",
    "njs_threshold",
    "write_njs_module",
]
