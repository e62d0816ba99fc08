"""Render the routing manifest into one nginx configuration.

How a request is routed, in nginx terms:

1. ``location`` blocks (one per distinct match + path) set ``$cutover_location``;
2. a ``map`` on ``"$cutover_location:$request_method"`` names the route (``$cutover_route``), so routes
   that share a path but cover different methods are told apart; anything else is the ``default`` route;
3. a ``map`` on the route gives the intended backend (``$cutover_backend``): ``legacy`` for the default
   route and pinned ones; for a route that can move, ``$cutover_live_backend``, set in its location: the
   manifest's state as rendered (``$cutover_rendered_backend``), unless the live directory has a file for
   the request's canary bucket (``split_clients`` of the route's sticky key into 100 buckets of 1%) saying
   otherwise. Moves write those files through a loopback-only admin ``server`` (``live.py``): no reload,
   and no JavaScript per request (a ``stat`` or two);
4. ``proxy_pass http://cutover_$cutover_backend`` sends it to that upstream. The ``modern`` upstream lists
   the Django servers as ``backup``: when FastAPI cannot be reached nginx serves the request from Django,
   and because ``proxy_next_upstream`` leaves out ``non_idempotent``, a POST/PATCH that already reached
   FastAPI is never replayed on Django.

The backend that actually answered is derived from ``$upstream_addr`` after the response, for the
``X-Cutover-Backend`` header and the access log.

A route with ``shadow = N`` also copies N% of its GET, HEAD and OPTIONS requests to the shadow comparator
(``[backends.shadow]``) with nginx's ``mirror``: see :func:`_shadow` for the copy and the pitfalls it
avoids on purpose.

Every path in the output is relative to the nginx prefix (``-p``), so the text does not depend on the
machine; ``listen`` is a parameter, and so is the live directory (``live_dir``), which file tests
(``if (-f ...)``) do not resolve against the prefix: installs pass its absolute path.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterable

from . import live, transport
from .manifest import Manifest, ProxySettings, Route

DEFAULT_LISTEN = "127.0.0.1:8000"
ROUTE_HEADER = "X-Cutover-Route"
BACKEND_HEADER = "X-Cutover-Backend"
SHADOW_ROUTE_HEADER = "X-Cutover-Shadow-Route"  # on each copy: the route it was copied from

# The internal location each copy goes through, one per nginx location with a shadowed route. It starts
# with "//": nginx merges the slashes of every client URI before it picks a location (merge_slashes), so
# no client request can reach it, and no client path is taken from the apps.
_SHADOW_LOCATION = "//cutover-shadow/"
# How long nginx may wait on the comparator for one copy. nginx does not finish a request until its
# mirror subrequest has finished: the client has its response already, but the next request on the same
# keep-alive connection is read only then. So the comparator must answer at once (it queues the copy and
# answers 204), and these bound what a slow or hung one costs that next request.
_SHADOW_CONNECT_TIMEOUT = "100ms"
_SHADOW_SEND_TIMEOUT = "1s"
_SHADOW_READ_TIMEOUT = "1s"
# After a copy failed, no copy is sent for this long (live.py's SHADOW_PAUSE_MS, for all workers).
_SHADOW_PAUSE = f"{live.SHADOW_PAUSE_MS // 1000}s"

# The JSON access log: one object per request, with the route and both the intended and the actual backend.
_LOG_FORMAT = (
    '{"time":"$time_iso8601","remote_addr":"$remote_addr","method":"$request_method",'
    '"uri":"$request_uri","status":$status,"route":"$cutover_route","backend":"$cutover_backend",'
    '"served_by":"$cutover_served_by","upstream_addr":"$upstream_addr","upstream_status":"$upstream_status",'
    '"request_time":$request_time,"upstream_response_time":"$upstream_response_time",'
    '"bytes_sent":$body_bytes_sent}'
)

# Without the header or cookie a canary key falls back to the client address, so anonymous clients are
# still spread (an empty key would send all of them to the same side).
_STICKY_SOURCES = {
    "authorization": ("$http_authorization", "auth"),
    "client": ("$remote_addr", "addr"),
}


def render(
    manifest: Manifest,
    *,
    listen: str = DEFAULT_LISTEN,
    admin: str | None = None,
    revision: str | None = None,
    live_dir: str = live.LIVE_DIR,
) -> str:
    """The complete nginx.conf for ``manifest``, serving on ``listen`` (``host:port``).

    ``admin`` (a loopback ``host:port``) adds the admin server that changes routes live; ``revision``
    names this configuration for it (default: the manifest's fingerprint; installs add a nonce);
    ``live_dir`` is where the admin server writes the routes' live state (``<prefix>/live`` as an
    absolute path when installed).
    """
    proxy = manifest.proxy
    locations = _locations(manifest.routes)
    revision = revision or fingerprint(manifest)
    out: list[str] = [
        f"# Rendered by `cutover render` from {manifest.source} (manifest sha256 {fingerprint(manifest)}).",
        f"# Revision {revision}: live route changes apply to this configuration only.",
        "# Do not edit: change the manifest and run `cutover move` / `cutover render`.",
        "",
        f"worker_processes {proxy.worker_processes};",
        "pid nginx.pid;",
        "# Compile the route regexes (locations, maps) to machine code once, at start.",
        "pcre_jit on;",
        "error_log logs/error.log warn;",
        "# Reloads drain old workers, but never for longer than this.",
        "worker_shutdown_timeout 30s;",
        "",
        "events {",
        "    worker_connections 1024;",
        "}",
        "",
        "http {",
        "    # Runtime files stay under the prefix (-p), never in a system directory.",
        "    client_body_temp_path temp/client_body;",
        "    proxy_temp_path temp/proxy;",
        "    fastcgi_temp_path temp/fastcgi;",
        "    uwsgi_temp_path temp/uwsgi;",
        "    scgi_temp_path temp/scgi;",
        "",
        "    server_tokens off;",
        f"    client_max_body_size {proxy.client_max_body_size};",
        "    keepalive_timeout 65s;",
        "",
        *_indent(_request_limits(proxy)),
        "",
        f"    log_format cutover_json escape=json '{_LOG_FORMAT}';",
        "    # Buffered: one write per 32 KiB of entries (or per second), not one per request.",
        "    access_log logs/access.log cutover_json buffer=32k flush=1s;",
        "",
        *_indent(_upstreams(manifest)),
        "",
        "    # The host the client asked for (with its port), forwarded to both apps (USE_X_FORWARDED_HOST).",
        "    map $http_host $cutover_forwarded_host {",
        '        "" $host;',
        "        default $http_host;",
        "    }",
        "",
        *_indent(_route_map(locations)),
        "",
        *_indent(_live_routing(manifest, revision, live_dir)),
        "",
        *_indent(_served_by_map(manifest)),
        "",
        *_indent(_shadow(manifest)),
        "    server {",
        f"        listen {listen};",
        "        server_name _;",
        "",
        "        set $cutover_location default;",
        "        set $cutover_live_backend legacy;  # each movable route's location sets its own",
        "",
        *_indent(_refusals(), 2),
        "",
        "        proxy_http_version 1.1;",
        "        # Overwritten, never passed through: both apps trust these headers.",
        *[f"        proxy_set_header {name} ${variable};" for name, variable in transport.SET_HEADERS],
        *[f'        proxy_set_header {name} "";' for name in transport.DROPPED_HEADERS],
        "        proxy_redirect off;",
        f"        proxy_connect_timeout {proxy.connect_timeout};",
        f"        proxy_send_timeout {proxy.send_timeout};",
        f"        proxy_read_timeout {proxy.read_timeout};",
        "        # Retry on the next server (Django, for modern) only when FastAPI could not be reached",
        "        # or timed out; a POST, PATCH or LOCK already sent is never retried (no non_idempotent).",
        "        proxy_next_upstream error timeout;",
        "",
        f"        proxy_hide_header {ROUTE_HEADER};",
        f"        proxy_hide_header {BACKEND_HEADER};",
        f"        add_header {ROUTE_HEADER} $cutover_route always;",
        f"        add_header {BACKEND_HEADER} $cutover_served_by always;",
        "",
        *_indent(_location_blocks(locations, _shadowed_keys(locations), _movable_keys(locations)), 2),
        *_indent(_shadow_locations(locations), 2),
        "        location @cutover_header_too_large {",
        "            return 431;",
        "        }",
        "",
        "        location / {",
        "            set $cutover_location default;",
        "            proxy_pass http://cutover_$cutover_backend;",
        "        }",
        "    }",
        *_indent(_admin_server(manifest, admin, revision)),
        "}",
        "",
    ]
    return "\n".join(out)


def fingerprint(manifest: Manifest) -> str:
    """A short hash of what the manifest routes, to tell rendered configurations apart."""
    text = repr((sorted(manifest.backends.items()), manifest.routes, manifest.proxy))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class _Location:
    def __init__(self, key: str, match: str, path: str) -> None:
        self.key = key
        self.match = match
        self.path = path
        self.routes: list[Route] = []


def _locations(routes: Iterable[Route]) -> list[_Location]:
    locations: dict[tuple[str, str], _Location] = {}
    for route in routes:
        loc = locations.get((route.match, route.path))
        if loc is None:
            loc = locations[(route.match, route.path)] = _Location(
                f"l{len(locations) + 1}", route.match, route.path
            )
        loc.routes.append(route)
    return list(locations.values())


def _quote(value: str) -> str:
    # nginx unescapes \" and \\ inside double quotes; everything else is taken literally.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _indent(lines: Iterable[str], level: int = 1) -> list[str]:
    pad = "    " * level
    return [pad + line if line else line for line in lines]


def _upstreams(manifest: Manifest) -> list[str]:
    proxy = manifest.proxy
    legacy = manifest.backends["legacy"].servers
    modern = manifest.backends["modern"].servers
    keepalive = [
        f"keepalive {proxy.upstream_keepalive};",
        f"keepalive_timeout {proxy.upstream_keepalive_timeout};",
    ]
    lines = ["upstream cutover_legacy {"]
    lines += [f"    server {s};" for s in legacy]
    lines += [f"    {k}" for k in keepalive] + ["}", ""]
    lines += ["# Django servers are the backup of the modern backend: failover when FastAPI is unreachable."]
    lines += ["upstream cutover_modern {"]
    lines += [f"    server {s} max_fails=1 fail_timeout={proxy.fail_timeout};" for s in modern]
    lines += [f"    server {s} backup;" for s in legacy]
    lines += [f"    {k}" for k in keepalive] + ["}"]
    return lines


def _route_map(locations: list[_Location]) -> list[str]:
    lines = [
        "# location + method -> route id; methods a route does not cover go to the default route.",
        'map "$cutover_location:$request_method" $cutover_route {',
        "    default default;",
    ]
    for loc in locations:
        for route in loc.routes:
            if route.all_methods:
                lines.append(f"    ~^{loc.key}: {route.id};")
            else:
                lines += [f"    {loc.key}:{method} {route.id};" for method in route.methods]
    lines.append("}")
    return lines


def _live_routing(manifest: Manifest, revision: str, live_dir: str) -> list[str]:
    movable = [r for r in manifest.routes if not r.pinned]
    lines = [
        "# Movable routes: each request's backend is the manifest's state as rendered here, unless the admin",
        "# server (live.py) wrote this revision's state of the route into the live directory: one file per",
        "# canary bucket, <route>/<bucket>.modern or .legacy. Read per request with a stat, no JavaScript.",
        f"js_import cutover_routing from {live.NJS_FILE};",
        f"js_shared_dict_zone zone={live.ZONE}:{live.ZONE_SIZE};",
        "",
    ]
    stickies = sorted({r.sticky for r in movable})
    if movable:
        lines += ["# Canary keys: the same key always lands on the same side; a larger share only adds keys."]
    for sticky in stickies:
        if sticky == "session":
            source, label = f"$cookie_{manifest.proxy.session_cookie}", "sid"
        else:
            source, label = _STICKY_SOURCES[sticky]
        lines += [
            f"map {source} $cutover_key_{sticky} {{",
            '    "" "addr:$remote_addr";',
            f'    default "{label}:{source}";',
            "}",
        ]
    if movable:
        lines += [
            "",
            "# Canary buckets: the key hashed as split_clients hashes it, into 100 buckets of 1%. A canary",
            "# at N% sends buckets 0 to N-1 to modern, exactly the keys `split_clients \"N%\" modern` would.",
        ]
    for sticky in stickies:
        buckets = [f"    1% {i};" for i in range(live.BUCKETS - 1)] + [f"    * {live.BUCKETS - 1};"]
        lines += [f"split_clients $cutover_key_{sticky} $cutover_bucket_{sticky} {{", *buckets, "}"]
    lines += [
        "",
        "# route id -> the request's bucket under the route's sticky key.",
        "map $cutover_route $cutover_route_bucket {",
        '    default "";',
        *[f"    {r.id} $cutover_bucket_{r.sticky};" for r in movable],
        "}",
        "",
        "# route and bucket -> the backend the manifest names, as rendered (before any live change).",
        'map "$cutover_route:$cutover_route_bucket" $cutover_rendered_backend {',
        "    default legacy;",
    ]
    for r in movable:
        if r.mode == "modern":
            lines.append(f"    {_quote('~^' + re.escape(r.id) + ':')} modern;")
        elif r.mode == "canary":
            lines += [f"    {_quote(f'{r.id}:{b}')} modern;" for b in range(r.percent or 0)]
    lines += [
        "}",
        "",
        f"# route id -> its live state's file for the request's bucket, this revision ({revision}).",
        "map $cutover_route $cutover_live_file {",
        f"    default {_quote(f'{live_dir}/{revision}/-')};",
        *[f"    {r.id} {_live_file(live_dir, revision, r.id)};" for r in movable],
        "}",
        "",
        "# route id -> its backend: legacy for the default route and pinned routes.",
        "map $cutover_route $cutover_backend {",
        "    default legacy;",
    ]
    lines += [f"    {r.id} $cutover_live_backend;" for r in movable]
    lines.append("}")
    return lines


def _live_file(live_dir: str, revision: str, route_id: str) -> str:
    """The route's live state file for the request's bucket, less its suffix (quoted; the variable in it)."""
    return _quote(f"{live_dir}/{revision}/{route_id}/")[:-1] + '$cutover_route_bucket"'


def _admin_server(manifest: Manifest, admin: str | None, revision: str) -> list[str]:
    if admin is None:
        return []
    movable = [r for r in manifest.routes if not r.pinned]
    table = " ".join(
        [revision, live.structure(manifest), *(f"{r.id}={r.mode}:{r.percent or 0}" for r in movable)]
    )
    return [
        "",
        "# The admin endpoint: loopback only, a token from the prefix (admin.token, mode 0600) required;",
        "# it changes routes' modes and shares live (live.py). Not logged: requests carry the token.",
        "server {",
        f"    listen {live.check_admin_address(admin)};",
        "    server_name _;",
        "    access_log off;",
        "    client_max_body_size 64k;",
        "    client_body_buffer_size 64k;",
        f"    set $cutover_route_table {_quote(table)};",
        f"    location = {live.ADMIN_PATH} {{",
        "        js_content cutover_routing.admin;",
        "    }",
        "    location / {",
        "        return 404;",
        "    }",
        "}",
    ]


def _addresses(server: str) -> list[str]:
    """How ``$upstream_addr`` will spell ``server``: resolved, since nginx resolves names at start."""
    host, _, port = server.rpartition(":")
    bare = host.strip("[]")
    try:
        infos = socket.getaddrinfo(bare, int(port), type=socket.SOCK_STREAM)
    except OSError:
        return [server]
    found = []
    for family, *_, sockaddr in infos:
        addr = f"[{sockaddr[0]}]:{port}" if family == socket.AF_INET6 else f"{sockaddr[0]}:{port}"
        if addr not in found:
            found.append(addr)
    return found or [server]


def _request_limits(proxy: ProxySettings) -> list[str]:
    """The legacy server's limits on the request head, as checks on what nginx forwards (transport.py)."""
    number, size_kib = transport.header_buffers(proxy)
    aliases = [
        f"map ${source} ${alias} {{ default ${source}; }}" for source, alias in transport.NJS_ALIASES.items()
    ]
    short_head = transport.below(transport.njs_threshold(proxy))
    return [
        "# The legacy server's limits on the request head ([proxy] limit_request_*, passed to gunicorn",
        "# too), applied to the request nginx forwards: a request is refused here for every backend alike,",
        "# or reaches its route's backend within limits both apps accept. See docs/cutover.md.",
        "#",
        "# nginx's own buffers hold any head the legacy server accepts; beyond them nginx answers 414",
        "# (request line) or 431 (a header: error_page 494 in the server) itself.",
        f"large_client_header_buffers {number} {size_kib}k;",
        "",
        "# The request line gunicorn would read: nginx rebuilds it as",
        '# "$request_method $request_uri HTTP/1.1" (extra spaces, leading empty lines, the version and an',
        "# absolute-form target are normalised). Longer than limit_request_line: 414. A method or",
        "# target outside gunicorn's grammar (3-20 token characters; printable ASCII) nginx passes on: 400.",
        'map "$request_method $request_uri" $cutover_request_line {',
        f'    "~^(?s).{{{transport.line_threshold(proxy)}}}" 414;',
        '    "~^[A-Z_-]{3,20} [!-~]+$" "";',
        "    default 400;",
        "}",
        "",
        "# Header fields as forwarded (the client's, minus those nginx replaces, plus those it sets): more",
        "# than limit_request_fields, or a line longer than limit_request_field_size, is 431. Counted by njs",
        f"# ({transport.NJS_DIR}/{transport.NJS_FILE}), only for a head long enough to break a limit.",
        f"js_path {transport.NJS_DIR}/;",
        f"js_import cutover_transport from {transport.NJS_FILE};",
        f'js_var $cutover_header_limits "{proxy.limit_request_fields} {proxy.limit_request_field_size}";',
        *aliases,
        "js_set $cutover_forwarded_fields cutover_transport.forwardedFields;",
        "map $request_length $cutover_header_fields {",
        f'    {_quote("~" + short_head)} "";',
        "    default $cutover_forwarded_fields;",
        "}",
        "",
        "# gunicorn answers 417 to an expectation other than 100-continue (nginx would drop the header).",
        "map $http_expect $cutover_expectation {",
        '    "" "";',
        '    "~*^100-continue$" "";',
        "    default 417;",
        "}",
    ]


def _refusals() -> list[str]:
    return [
        "# Refused by nginx, for every backend alike, as the legacy server refuses them (the maps above).",
        "if ($cutover_request_line = 414) {",
        "    return 414;",
        "}",
        "if ($cutover_request_line = 400) {",
        "    return 400;",
        "}",
        "if ($cutover_header_fields) {",
        "    return 431;",
        "}",
        "if ($cutover_expectation) {",
        "    return 417;",
        "}",
        "# A header line longer than nginx's buffers: 431, as gunicorn answers, not nginx's 400.",
        "error_page 494 =431 @cutover_header_too_large;",
    ]


def _served_by_map(manifest: Manifest) -> list[str]:
    lines = [
        "# The backend that answered: the last address nginx tried (after a failover, Django's); nginx when",
        "# no backend was asked (a request nginx refused itself).",
        "map $upstream_addr $cutover_served_by {",
        "    default $cutover_backend;",
        '    "" nginx;',
    ]
    for name in ("legacy", "modern"):
        for server in manifest.backends[name].servers:
            for addr in _addresses(server):
                pattern = _quote("~(^|\\s)" + re.escape(addr) + "$")
                lines.append(f"    {pattern} {name};")
    lines.append("}")
    return lines


def _movable_keys(locations: list[_Location]) -> set[str]:
    """The locations with a route that can move: their requests read the live state."""
    return {loc.key for loc in locations if any(not r.pinned for r in loc.routes)}


def _location_blocks(locations: list[_Location], shadowed: set[str], movable: set[str]) -> list[str]:
    lines: list[str] = []
    for loc in locations:
        ids = ", ".join(r.id for r in loc.routes)
        if loc.match == "exact":
            head = f"location = {_quote(loc.path)} {{"
        elif loc.match == "prefix":
            # ^~: a matching prefix wins over patterns, so pinned prefixes cannot be taken by a pattern.
            head = f"location ^~ {_quote(loc.path)} {{"
        else:
            head = f"location ~ {_quote(loc.path)} {{"
        lines += [f"# {ids}", head, *_proxy_to(loc.key, shadowed, loc.key in movable), "}", ""]
    lines += _no_slash_redirects(locations, shadowed, movable)
    return lines


def _proxy_to(location_key: str, shadowed: set[str], movable: bool) -> list[str]:
    lines = [f"    set $cutover_location {location_key};"]
    if movable:
        # The live state, when the admin server wrote one for this revision (a route's files are swapped
        # in whole, so a bucket has one of the two); .legacy last, so that a bucket left with both by hand
        # goes to legacy. Only `set` inside these ifs.
        lines += [
            "    set $cutover_live_backend $cutover_rendered_backend;",
            "    if (-f $cutover_live_file.modern) {",
            "        set $cutover_live_backend modern;",
            "    }",
            "    if (-f $cutover_live_file.legacy) {",
            "        set $cutover_live_backend legacy;",
            "    }",
        ]
    if location_key in shadowed:
        # Every request here starts a copy subrequest; the copy location drops those it must not send.
        # The client's body is not read for it (mirror_request_body on would read the whole body before
        # the request is proxied, and a copy never carries one).
        lines += [f"    mirror {_SHADOW_LOCATION}{location_key};", "    mirror_request_body off;"]
    return [*lines, "    proxy_pass http://cutover_$cutover_backend;"]


def _no_slash_redirects(locations: list[_Location], shadowed: set[str], movable: set[str]) -> list[str]:
    """Exact locations for ``/path`` beside each ``/path/`` location.

    nginx answers ``/path`` itself with a 301 to ``/path/`` when a proxied location ends with a slash; the
    apps must see that request (Django redirects it with APPEND_SLASH), routed as the manifest says.
    """
    exact = {loc.path for loc in locations if loc.match == "exact"}
    lines: list[str] = []
    for loc in locations:
        if loc.match == "pattern" or not loc.path.endswith("/") or loc.path == "/":
            continue
        bare = loc.path.rstrip("/")
        if not bare or bare in exact:
            continue
        exact.add(bare)
        target = _resolve(bare, locations)
        lines += [f"# {bare} without the slash: no nginx redirect", f"location = {_quote(bare)} {{"]
        lines += [*_proxy_to(target, shadowed, target in movable), "}", ""]
    return lines


def _resolve(path: str, locations: list[_Location]) -> str:
    """The location key nginx would pick for ``path`` (exact, longest prefix, first pattern, default)."""
    for loc in locations:
        if loc.match == "exact" and loc.path == path:
            return loc.key
    prefixes = [loc for loc in locations if loc.match == "prefix" and path.startswith(loc.path)]
    if prefixes:
        return max(prefixes, key=lambda loc: len(loc.path)).key
    for loc in locations:
        if loc.match == "pattern" and re.search(loc.path, path):
            return loc.key
    return "default"


def _shadowed_keys(locations: list[_Location]) -> set[str]:
    return {loc.key for loc in locations if any(r.shadow_methods for r in loc.routes)}


def _shadow(manifest: Manifest) -> list[str]:
    """The comparator's upstream, the per-request sampling and the route -> share map for the copies.

    nginx's ``mirror`` copies every request of a location, so the decision is made in the copy's own
    location (:func:`_shadow_locations`), before any connection: ``$cutover_shadow_copy`` is empty for a
    method that is not safe, a route that does not shadow, and a request outside the route's share. In a
    mirror subrequest ``$request_method`` is the client's method and ``$request_id`` the client request's
    id (both checked against a real nginx), so the sample is random per request, not sticky: split_clients
    on ``$request_id``, 128 random bits.
    """
    shadowed = manifest.shadowed
    if not shadowed:
        return []
    proxy = manifest.proxy
    lines = [
        '# Shadow copies (docs/cutover.md, "Shadow copies at the front door"): a share of each shadowed',
        "# route's GET, HEAD and OPTIONS requests is copied to the comparator, which compares both apps'",
        "# answers in the background. Kept alive as the apps' upstreams are, and closed before the",
        "# comparator closes them: a copy sent on a connection it had just closed would fail. With several",
        "# comparators, one that fails is skipped for a while (a single one never is: see the pause).",
        "upstream cutover_shadow {",
        *[f"    server {s} max_fails=1 fail_timeout={_SHADOW_PAUSE};" for s in manifest.shadow_servers],
        f"    keepalive {proxy.upstream_keepalive};",
        f"    keepalive_timeout {proxy.upstream_keepalive_timeout};",
        "}",
        "",
        "# Sampled per request: the route's share of its safe requests, independently of the client.",
    ]
    for share in sorted({r.shadow for r in shadowed if r.shadow < 100}):
        lines += [
            f'split_clients "${{request_id}}" $cutover_shadow_{share} {{',
            f"    {share}% 1;",
            '    * "";',
            "}",
        ]
    lines += [
        "",
        '# route and method -> copy ("1") or not (""): the safe methods of shadowed routes; writes never.',
        'map "$cutover_route:$request_method" $cutover_shadow_copy {',
        '    default "";',
    ]
    for route in shadowed:
        value = "1" if route.shadow == 100 else f"$cutover_shadow_{route.shadow}"
        lines += [f"    {route.id}:{method} {value};" for method in route.shadow_methods]
    lines += [
        "}",
        "",
        "# Empty while copies are paused after the comparator failed (live.py: shadowOpen, shadowFailed).",
        "js_set $cutover_shadow_open cutover_routing.shadowOpen;",
        "",
    ]
    return lines


def _shadow_locations(locations: list[_Location]) -> list[str]:
    """The internal location of each shadowed nginx location's copies (``mirror`` points there).

    The pitfalls of nginx's mirror, each handled here on purpose:

    - the client's request is not finished until its copy is, and the next request on that keep-alive
      connection waits for it: short timeouts to the comparator, and a pause of all copies for
      ``_SHADOW_PAUSE`` after one failed (502: refused or reset, 504: timed out), so a stopped or hung
      comparator costs one request per pause, not every one;
    - a stopped comparator is a connection refused per copy, one error line each: the pause makes that
      one line per pause. An ``error_log`` in this location would not help: nginx switches the log of a
      connection to a location's only for the client's own request, never for a subrequest (checked);
    - bodies: the client's is never read for a copy nor sent with it (no Content-Length either);
    - keep-alive to the comparator (HTTP/1.1, no Connection header), as to the apps;
    - copies are subrequests, which nginx does not write to the access log (``log_subrequest off``);
      ``access_log off`` says so here too.
    """
    keys = _shadowed_keys(locations)
    if not keys:
        return []
    lines: list[str] = []
    for loc in locations:
        if loc.key not in keys:
            continue
        lines += [
            f"# Copies of {', '.join(r.id for r in loc.routes if r.shadow_methods)} to the comparator.",
            f"location = {_quote(_SHADOW_LOCATION + loc.key)} {{",
            "    internal;",
            "    access_log off;",
            f"    set $cutover_location {loc.key};",
            "    # Not copied, and no connection made: a write, a route that does not shadow, a request",
            "    # outside the share, or copies paused after the comparator failed.",
            '    if ($cutover_shadow_copy = "") {',
            "        return 204;",
            "    }",
            '    if ($cutover_shadow_open = "") {',
            "        return 204;",
            "    }",
            "    proxy_http_version 1.1;",
            "    # The apps' forwarded headers, as the request itself gets them (a proxy_set_header here",
            "    # replaces every inherited one), and the copy's route, whatever the client sent.",
            *[f"    proxy_set_header {name} ${variable};" for name, variable in transport.SET_HEADERS],
            *[f'    proxy_set_header {name} "";' for name in transport.DROPPED_HEADERS],
            f"    proxy_set_header {SHADOW_ROUTE_HEADER} $cutover_route;",
            '    proxy_set_header Content-Length "";',
            "    proxy_pass_request_body off;",
            f"    proxy_connect_timeout {_SHADOW_CONNECT_TIMEOUT};",
            f"    proxy_send_timeout {_SHADOW_SEND_TIMEOUT};",
            f"    proxy_read_timeout {_SHADOW_READ_TIMEOUT};",
            "    # A refused connection tries another comparator (the copy never arrived); a timed-out copy",
            "    # is not sent again.",
            "    proxy_next_upstream error;",
            "    error_page 502 504 = @cutover_shadow_failed;",
            "    # The client's request URI as it sent it, query string included: not the location's URI.",
            "    proxy_pass http://cutover_shadow$request_uri;",
            "}",
            "",
        ]
    lines += [
        "# A copy failed: pause every copy (live.py), so that a dead comparator costs one error line and one",
        "# delayed request per pause.",
        "location @cutover_shadow_failed {",
        "    js_content cutover_routing.shadowFailed;",
        "}",
        "",
    ]
    return lines


__all__ = ["BACKEND_HEADER", "DEFAULT_LISTEN", "ROUTE_HEADER", "SHADOW_ROUTE_HEADER", "fingerprint", "render"]
