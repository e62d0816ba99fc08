"""The routing manifest (``routes.toml``, or the project config's ``[proxy] manifest``): model, validation,
and comment-preserving edits.

The file is read with tomlkit rather than tomllib so that ``cutover move`` can change one route's mode and
write the file back with every comment, blank line and key order intact: the manifest lives in version
control and its diff should be one or two lines.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError
from tomlkit.items import AoT, Table

from ..errors import CutoverError
from ..exit_codes import ExitCode

DEFAULT_MANIFEST = Path("routes.toml")  # beside the project config, unless its [proxy] manifest says

MODES = ("legacy", "canary", "modern")
MATCHES = ("exact", "prefix", "pattern")
STICKY_KEYS = ("authorization", "session", "client")
BACKENDS = ("legacy", "modern")
# The shadow comparator (`cutover shadow serve`): the front door copies a share of a route's safe requests
# to it. Never a route's backend: it answers the copies, never a client.
SHADOW_BACKEND = "shadow"
DEFAULT_SHADOW_SERVERS = ("127.0.0.1:8003",)
# Only requests that change nothing are copied: the comparator replays each copy against both apps, and a
# replayed write would be applied twice. Writes are never shadowed, whatever a route's methods.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ALL_METHODS = "*"

_ROUTE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_METHOD = re.compile(r"^[A-Z]{1,20}$")
# nginx time and size values: "500ms", "2s", "1m"; "10m", "1k", "1048576".
_DURATION = re.compile(r"^[0-9]+(ms|s|m|h)?$")
_SIZE = re.compile(r"^[0-9]+[kKmMgG]?$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")
_COOKIE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")

# Integer settings whose range is not 1-1024. The request line and field count stop at gunicorn's maxima (it
# silently lowers larger values, and the front door would then allow more than the legacy server); none takes
# 0, which gunicorn reads as "unlimited" where nginx needs a bound. The minima leave room for the headers the
# front door itself adds.
_INT_RANGES = {
    "limit_request_line": (64, 8190),
    "limit_request_fields": (16, 32768),
    "limit_request_field_size": (256, 65536),
}

_TOP_KEYS = {"proxy", "backends", "default", "routes"}
_ROUTE_KEYS = {
    "id",
    "match",
    "path",
    "methods",
    "mode",
    "percent",
    "sticky",
    "pinned",
    "shadow",
    "description",
}
_BACKEND_KEYS = {"servers"}
_DEFAULT_KEYS = {"backend"}


class ManifestError(CutoverError):
    """The manifest cannot be used: one line naming the file, the route and the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.USAGE)


@dataclass(frozen=True)
class ProxySettings:
    """Front-door tuning; every value is an nginx value and has a safe default."""

    connect_timeout: str = "2s"
    send_timeout: str = "60s"
    read_timeout: str = "60s"
    # Idle upstream connections are closed by nginx before the backends close them (gunicorn's keep-alive is
    # 2 s, uvicorn's 5 s): a connection the backend closed first would fail a POST sent on it.
    upstream_keepalive: int = 128
    upstream_keepalive_timeout: str = "1s"
    fail_timeout: str = "5s"
    client_max_body_size: str = "10m"
    worker_processes: int = 2
    session_cookie: str = "sessionid"
    # The legacy server's limits on the request head (gunicorn's settings of the same names and defaults).
    # nginx enforces them on what it forwards and `cutover up` passes them to gunicorn, so a request is
    # either refused by the front door for every backend or reaches whichever backend its route names.
    limit_request_line: int = 4094  # bytes of "METHOD TARGET HTTP/1.1", without the CRLF: more is 414
    limit_request_fields: int = 100  # header fields: more is 431
    limit_request_field_size: int = 8190  # bytes of one "Name: value" line with its CRLF: more is 431


@dataclass(frozen=True)
class Backend:
    name: str
    servers: tuple[str, ...]


@dataclass(frozen=True)
class Route:
    id: str
    match: str
    path: str
    methods: tuple[str, ...] = (ALL_METHODS,)
    mode: str = "legacy"
    percent: int | None = None
    sticky: str = "authorization"
    pinned: bool = False
    shadow: int = 0  # percentage of the route's safe requests copied to the shadow comparator
    description: str = ""

    @property
    def all_methods(self) -> bool:
        return ALL_METHODS in self.methods

    def covers(self, method: str) -> bool:
        return self.all_methods or method in self.methods

    @property
    def shadow_methods(self) -> tuple[str, ...]:
        """The methods whose requests may be copied to the comparator: the safe ones the route covers,
        and only when it shadows."""
        if not self.shadow:
            return ()
        return tuple(m for m in SAFE_METHODS if self.covers(m))

    @property
    def modern_share(self) -> int:
        """Percentage of sticky keys this route sends to ``modern``."""
        if self.mode == "modern":
            return 100
        if self.mode == "canary":
            return self.percent or 0
        return 0


@dataclass(frozen=True)
class Manifest:
    source: str
    backends: Mapping[str, Backend]
    routes: tuple[Route, ...]
    proxy: ProxySettings = field(default_factory=ProxySettings)
    default_backend: str = "legacy"

    @property
    def shadowed(self) -> tuple[Route, ...]:
        """The routes that copy a share of their safe requests to the comparator."""
        return tuple(r for r in self.routes if r.shadow)

    @property
    def shadow_servers(self) -> tuple[str, ...]:
        return self.backends[SHADOW_BACKEND].servers

    def route(self, route_id: str) -> Route:
        for route in self.routes:
            if route.id == route_id:
                return route
        known = ", ".join(r.id for r in self.routes) or "none"
        raise ManifestError(f"{self.source}: no route with id {route_id!r} (routes: {known})")


def load_manifest(path: Path) -> Manifest:
    """Read and validate the manifest at ``path``."""
    return parse_manifest(read_text(path), source=str(path))


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror}") from None


def parse_document(text: str, source: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ManifestError(f"{source}: not valid TOML: {exc}") from None


def parse_manifest(text: str, source: str = "routes.toml") -> Manifest:
    """Parse and validate manifest text; raise ManifestError with one line naming the problem."""
    return validate(parse_document(text, source).unwrap(), source)


def set_route_mode(text: str, route_id: str, mode: str, percent: int | None = None, *, source: str) -> str:
    """Return the manifest text with one route's mode changed; comments and layout are kept.

    The result is validated before it is returned, so a caller never writes an invalid manifest.
    """
    if mode not in MODES:
        raise ManifestError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    doc, table = _route_table(text, route_id, source)
    if table.get("pinned", False) and mode != "legacy":
        raise ManifestError(f"{source}: route {route_id!r} is pinned to legacy and cannot move")
    if mode == "canary":
        if percent is None:
            raise ManifestError("moving to canary needs --percent N (1-99)")
        _check_percent(percent, f"{source}: route {route_id!r}")
    elif percent is not None:
        raise ManifestError(f"--percent applies only to --to canary (got --to {mode})")
    table["mode"] = mode
    if mode == "canary" and "percent" in table:
        table["percent"] = percent
    elif mode == "canary":
        _add_after(table, "mode", "percent", percent)
    elif "percent" in table:
        del table["percent"]
    new_text = tomlkit.dumps(doc)
    validate(tomlkit.parse(new_text).unwrap(), source)
    return new_text


def set_route_shadow(text: str, route_id: str, percent: int, *, source: str) -> str:
    """Return the manifest text with one route's ``shadow`` share set (0 removes the key); validated."""
    doc, table = _route_table(text, route_id, source)
    if percent == 0:
        table.pop("shadow", None)
    elif "shadow" in table:
        table["shadow"] = percent
    else:
        _add_after(table, "mode", "shadow", percent)
    new_text = tomlkit.dumps(doc)
    validate(tomlkit.parse(new_text).unwrap(), source)
    return new_text


def _route_table(text: str, route_id: str, source: str) -> tuple[tomlkit.TOMLDocument, Table]:
    """The document and the table of route ``route_id``, from a manifest that must be valid before it is
    edited; an unknown id raises with the list of known ones."""
    doc = parse_document(text, source)
    manifest = validate(doc.unwrap(), source)
    routes = doc.get("routes")
    assert isinstance(routes, AoT | list)
    table: Table | None = next((t for t in routes if t.get("id") == route_id), None)
    if table is None:
        manifest.route(route_id)  # raises
        raise AssertionError("unreachable")
    return doc, table


def _add_after(table: Table, after: str, key: str, value: Any) -> None:
    # Table.add appends after the table's trailing comments and blank lines, which belong to the next
    # section in the reader's eye; tomlkit's container can insert right after a key instead.
    # Both are private: tomlkit 0.13 has ``_insert_after``; 0.15 dropped it and kept ``_insert_at``.
    container = table.value
    try:
        if hasattr(container, "_insert_after"):
            container._insert_after(after, key, value)
            return
        index = next(i for i, (k, _) in enumerate(container.body) if k is not None and k.key == after)
        container._insert_at(index + 1, key, value)
    except (AttributeError, StopIteration, ValueError):  # a tomlkit with neither: correct, only less tidy
        table.add(key, value)


# --- validation -----------------------------------------------------------------------------------------


def validate(data: Mapping[str, Any], source: str) -> Manifest:
    """Turn the parsed TOML into a Manifest, refusing anything ambiguous or unsafe to render."""
    where = source
    _no_unknown_keys(data, _TOP_KEYS, where)
    proxy = _proxy_settings(data.get("proxy", {}), f"{where}: [proxy]")
    backends = _backends(data.get("backends"), where)
    default = data.get("default", {"backend": "legacy"})
    if not isinstance(default, Mapping):
        raise ManifestError(f"{where}: [default] must be a table")
    _no_unknown_keys(default, _DEFAULT_KEYS, f"{where}: [default]")
    if default.get("backend", "legacy") != "legacy":
        raise ManifestError(
            f"{where}: [default] backend must be 'legacy': unmatched requests stay on Django "
            f"(got {default.get('backend')!r}); add a route to move traffic"
        )
    raw_routes = data.get("routes", [])
    if not isinstance(raw_routes, list):
        raise ManifestError(f"{where}: routes must be an array of tables ([[routes]])")
    routes = tuple(_route(raw, i, where) for i, raw in enumerate(raw_routes))
    _no_conflicts(routes, where)
    backends[SHADOW_BACKEND] = _shadow_backend(
        data.get("backends"), backends, any(r.shadow for r in routes), where
    )
    return Manifest(source=source, backends=backends, routes=routes, proxy=proxy)


def _no_unknown_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ManifestError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _proxy_settings(raw: Any, where: str) -> ProxySettings:
    if not isinstance(raw, Mapping):
        raise ManifestError(f"{where} must be a table")
    defaults = ProxySettings()
    _no_unknown_keys(raw, set(defaults.__dataclass_fields__), where)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        default = getattr(defaults, key)
        if isinstance(default, int):
            low, high = _INT_RANGES.get(key, (1, 1024))
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ManifestError(f"{where}: {key} must be an integer from {low} to {high} (got {value!r})")
        elif key == "session_cookie":
            if not isinstance(value, str) or not _COOKIE_NAME.match(value):
                raise ManifestError(f"{where}: session_cookie must be a cookie name like 'sessionid'")
        elif key == "client_max_body_size":
            if not isinstance(value, str) or not _SIZE.match(value):
                raise ManifestError(f"{where}: {key} must be an nginx size like '10m' (got {value!r})")
        elif not isinstance(value, str) or not _DURATION.match(value):
            raise ManifestError(f"{where}: {key} must be an nginx duration like '2s' (got {value!r})")
        values[key] = value
    return ProxySettings(**values)


def _backends(raw: Any, where: str) -> dict[str, Backend]:
    if not isinstance(raw, Mapping):
        raise ManifestError(f"{where}: missing [backends.legacy] and [backends.modern]")
    unknown = sorted(set(raw) - {*BACKENDS, SHADOW_BACKEND})
    if unknown:
        raise ManifestError(
            f"{where}: unknown backend {unknown[0]!r} (backends are legacy, modern and shadow)"
        )
    backends: dict[str, Backend] = {}
    seen: dict[str, str] = {}
    for name in BACKENDS:
        table = raw.get(name)
        if not isinstance(table, Mapping):
            raise ManifestError(f"{where}: missing [backends.{name}]")
        _no_unknown_keys(table, _BACKEND_KEYS, f"{where}: [backends.{name}]")
        servers = table.get("servers")
        if not isinstance(servers, list) or not servers:
            raise ManifestError(f"{where}: [backends.{name}] servers must list at least one 'host:port'")
        for server in servers:
            _check_address(server, f"{where}: [backends.{name}]")
            if server in seen:
                raise ManifestError(
                    f"{where}: server {server} is listed in both backends.{seen[server]} and backends.{name}"
                )
            seen[server] = name
        backends[name] = Backend(name, tuple(servers))
    return backends


def _shadow_backend(raw: Any, apps: Mapping[str, Backend], used: bool, where: str) -> Backend:
    """``[backends.shadow]``, the comparator; ``127.0.0.1:8003`` (``cutover shadow serve``'s) without it.

    Always defined, whether a route shadows or not: Envoy's bootstrap names it as a cluster, and a change
    of a route's share must not change the bootstrap (that would refuse a live move).
    """
    table = raw.get(SHADOW_BACKEND)
    if table is None:
        servers: tuple[str, ...] = DEFAULT_SHADOW_SERVERS
        named = f"backends.{SHADOW_BACKEND} (the default comparator address; name yours in [backends.shadow])"
    else:
        here = f"{where}: [backends.{SHADOW_BACKEND}]"
        if not isinstance(table, Mapping):
            raise ManifestError(f"{here} must be a table")
        _no_unknown_keys(table, _BACKEND_KEYS, here)
        listed = table.get("servers")
        if not isinstance(listed, list) or not listed:
            raise ManifestError(f"{here} servers must list at least one 'host:port'")
        for server in listed:
            _check_address(server, here)
        servers = tuple(listed)
        named = f"backends.{SHADOW_BACKEND}"
    # A comparator on an app's address would receive the copies as requests of that app. The default
    # address only matters once a route shadows: before that, nothing is ever sent to it.
    if table is not None or used:
        for backend in apps.values():
            for server in servers:
                if server in backend.servers:
                    raise ManifestError(
                        f"{where}: server {server} is listed in both backends.{backend.name} and {named}"
                    )
    return Backend(SHADOW_BACKEND, servers)


def _check_address(server: Any, where: str) -> None:
    if not isinstance(server, str):
        raise ManifestError(f"{where}: server must be a 'host:port' string (got {server!r})")
    host, sep, port = server.rpartition(":")
    ok = bool(sep) and port.isdigit() and 1 <= int(port) <= 65535
    if ok and host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            ok = False
    elif ok:
        ok = bool(_HOSTNAME.match(host))
    if not ok:
        raise ManifestError(f"{where}: server {server!r} is not 'host:port' (e.g. '127.0.0.1:8001')")


def _check_percent(percent: Any, where: str) -> None:
    if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 99:
        raise ManifestError(
            f"{where}: canary percent must be an integer from 1 to 99 (got {percent!r}); "
            "use mode 'legacy' for 0 and 'modern' for 100"
        )


def _route(raw: Any, index: int, where: str) -> Route:
    if not isinstance(raw, Mapping):
        raise ManifestError(f"{where}: routes[{index}] must be a table")
    route_id = raw.get("id")
    if not isinstance(route_id, str) or not _ROUTE_ID.match(route_id):
        raise ManifestError(
            f"{where}: routes[{index}] needs an id of lowercase letters, digits, '-', '_' (got {route_id!r})"
        )
    where = f"{where}: route {route_id!r}"
    if route_id == "default":
        raise ManifestError(f"{where}: the id 'default' is reserved for unmatched requests")
    _no_unknown_keys(raw, _ROUTE_KEYS, where)

    match = raw.get("match")
    if match not in MATCHES:
        raise ManifestError(f"{where}: match must be one of {', '.join(MATCHES)} (got {match!r})")
    path = raw.get("path")
    if not isinstance(path, str) or not path or any(c.isspace() or ord(c) < 32 for c in path):
        raise ManifestError(f"{where}: path must be a non-empty string without spaces (got {path!r})")
    if match == "pattern":
        if not path.startswith("^/"):
            raise ManifestError(f"{where}: a pattern must be anchored and start with '^/' (got {path!r})")
        try:
            re.compile(path)
        except re.error as exc:
            raise ManifestError(
                f"{where}: pattern {path!r} is not a valid regular expression: {exc}"
            ) from None
    elif not path.startswith("/"):
        raise ManifestError(f"{where}: path must start with '/' (got {path!r})")
    if match == "prefix" and path == "/":
        raise ManifestError(f"{where}: prefix '/' is the default route; use [default]")

    methods = raw.get("methods", [ALL_METHODS])
    if (
        not isinstance(methods, list)
        or not methods
        or not all(isinstance(m, str) and (m == ALL_METHODS or _METHOD.match(m)) for m in methods)
    ):
        raise ManifestError(
            f"{where}: methods must be a list of upper-case HTTP methods or ['*'] (got {methods!r})"
        )
    if ALL_METHODS in methods and len(methods) > 1:
        raise ManifestError(f"{where}: methods ['*'] already covers every method; list no others")
    if len(set(methods)) != len(methods):
        raise ManifestError(f"{where}: methods lists a method twice")

    mode = raw.get("mode", "legacy")
    if mode not in MODES:
        raise ManifestError(f"{where}: mode must be one of {', '.join(MODES)} (got {mode!r})")
    percent = raw.get("percent")
    if mode == "canary":
        _check_percent(percent, where)
    elif percent is not None:
        raise ManifestError(f"{where}: percent applies only to mode 'canary' (mode is {mode!r})")
    sticky = raw.get("sticky", "authorization")
    if sticky not in STICKY_KEYS:
        raise ManifestError(f"{where}: sticky must be one of {', '.join(STICKY_KEYS)} (got {sticky!r})")
    pinned = raw.get("pinned", False)
    if not isinstance(pinned, bool):
        raise ManifestError(f"{where}: pinned must be true or false")
    if pinned and mode != "legacy":
        raise ManifestError(f"{where}: a pinned route stays on legacy (mode is {mode!r})")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ManifestError(f"{where}: description must be a string")
    shadow = raw.get("shadow", 0)
    if not isinstance(shadow, int) or isinstance(shadow, bool) or not 0 <= shadow <= 100:
        raise ManifestError(
            f"{where}: shadow must be an integer percentage from 0 to 100 (got {shadow!r}): the share of "
            "the route's GET, HEAD and OPTIONS requests copied to the shadow comparator"
        )
    if shadow and not any(m == ALL_METHODS or m in SAFE_METHODS for m in methods):
        raise ManifestError(
            f"{where}: shadow copies only GET, HEAD and OPTIONS requests and the route covers "
            f"{', '.join(methods)}: writes are never shadowed; remove shadow"
        )
    return Route(
        id=route_id,
        match=match,
        path=path,
        methods=tuple(methods),
        mode=mode,
        percent=percent if mode == "canary" else None,
        sticky=sticky,
        pinned=pinned,
        shadow=shadow,
        description=description,
    )


def _no_conflicts(routes: tuple[Route, ...], where: str) -> None:
    seen_ids: set[str] = set()
    by_location: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        if route.id in seen_ids:
            raise ManifestError(f"{where}: route id {route.id!r} is used twice")
        seen_ids.add(route.id)
        for other in by_location.setdefault((route.match, route.path), []):
            if route.all_methods or other.all_methods or set(route.methods) & set(other.methods):
                raise ManifestError(
                    f"{where}: routes {other.id!r} and {route.id!r} both match {route.match} {route.path!r} "
                    "for the same methods; give each its own methods"
                )
        by_location[(route.match, route.path)].append(route)


__all__ = [
    "DEFAULT_MANIFEST",
    "DEFAULT_SHADOW_SERVERS",
    "MODES",
    "SAFE_METHODS",
    "SHADOW_BACKEND",
    "Backend",
    "Manifest",
    "ManifestError",
    "ProxySettings",
    "Route",
    "load_manifest",
    "parse_manifest",
    "set_route_mode",
]
