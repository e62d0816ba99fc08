"""Live routing: each route's mode and canary share read at request time, changed without a reload.

A graceful reload closes idle client keep-alive connections, and a client that sends a request on one at
that instant gets no response. So a move, a canary share change or a rollback does not reload nginx: the
rendered configuration carries every movable route's state from the manifest
(``$cutover_rendered_backend``) and a *revision* unique to that installed configuration, and each movable
route's location tests, per request, whether the *live directory* (:data:`LIVE_DIR` in the nginx prefix)
holds a file for this revision, route and canary bucket: ``live/<revision>/<route>/<bucket>.modern`` or
``.legacy``. A request's bucket is nginx's own ``split_clients`` of the route's sticky key into
:data:`BUCKETS` buckets of 1%, so a canary at N% (buckets 0 to N-1 on modern) sends exactly the keys that
``split_clients "N%" modern`` sends. A ``stat`` per test: no JavaScript runs per request (an njs
``js_set`` doubled nginx's CPU per proxied request; docs/performance.md).

The files are written by njs (:data:`NJS_SOURCE`, written into the nginx prefix) in an admin ``server``
that listens on loopback only, answers only :data:`ADMIN_PATH`, and requires the token of
:data:`TOKEN_FILE` in the nginx prefix (mode 0600; never in the configuration or a log). State is kept per
revision, so after a reload or a restart with a new configuration (every install renders a new revision)
what serves is again the rendered manifest: the file is the source of truth, the live directory only ever
says what the file said when it was pushed.

The same module pauses shadow copies (``shadowOpen``, ``shadowFailed``) after a copy failed, with one
entry of a shared dictionary (``js_shared_dict_zone``, shared by all workers).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from ..errors import CutoverError
from ..exit_codes import ExitCode
from .manifest import Manifest

NJS_FILE = "cutover_routing.js"
ZONE = "cutover_routes"
ZONE_SIZE = "1m"  # a few bytes per route; the same size every render, so a reload reuses the zone
ADMIN_PATH = "/cutover/routes"
LIVE_DIR = "live"  # in the nginx prefix: <revision>/<route>/<bucket>.modern|.legacy, and <route>/state
BUCKETS = 100  # canary buckets of 1% (render._live_routing's split_clients)
TOKEN_FILE = "admin.token"
# After a shadow copy failed (comparator refused, reset or timed out), no copy is sent for this long, by
# any worker: a stopped comparator costs an error line per pause, not per copy (render._shadow_locations).
SHADOW_PAUSE_MS = 5000


class LiveError(CutoverError):
    """The running front door could not be changed (or read) through its admin endpoint."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.USAGE)


@dataclass(frozen=True)
class RouteState:
    mode: str
    percent: int | None = None

    def describe(self) -> str:
        return self.mode + (f" {self.percent}%" if self.mode == "canary" else "")


def states(manifest: Manifest) -> dict[str, RouteState]:
    """The state of every route that can move (pinned routes are static configuration)."""
    return {r.id: RouteState(r.mode, r.percent) for r in manifest.routes if not r.pinned}


def structure(manifest: Manifest) -> str:
    """A hash of everything the rendered configuration depends on except routes' modes and shares.

    Two manifests with the same structure render the same configuration but for the live state, so a
    move between them needs no reload.
    """
    routes = tuple(replace(r, mode="legacy", percent=None) for r in manifest.routes)
    text = repr((sorted(manifest.backends.items()), routes, manifest.proxy))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def new_revision(manifest_fingerprint: str) -> str:
    """A revision for one installed configuration: its manifest, and a nonce so that no two installs share
    one (a dictionary entry pushed for an earlier configuration can then never apply to a later one)."""
    return f"{manifest_fingerprint}-{secrets.token_hex(4)}"


def check_admin_address(address: str) -> str:
    """``address`` (``host:port``) if it is on loopback; the admin endpoint never listens elsewhere."""
    host, _, port = address.rpartition(":")
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback or not port.isdigit():
        raise LiveError(f"the admin endpoint must listen on a loopback address (host:port), not {address!r}")
    return address


def ensure_token(prefix: Path) -> str:
    """The admin token of the nginx prefix, created (mode 0600) on first use."""
    path = prefix / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


@dataclass(frozen=True)
class LiveView:
    """What the running workers route by: their configuration's revision and structure, each route's
    effective state, and which routes come from the dictionary rather than the rendered manifest."""

    revision: str
    structure: str
    routes: Mapping[str, RouteState]
    pushed: frozenset[str]


class AdminClient:
    """The toolkit's side of the admin endpoint (``GET`` / ``POST`` :data:`ADMIN_PATH`)."""

    def __init__(self, address: str, token: str, timeout: float = 5.0) -> None:
        self.url = f"http://{check_admin_address(address)}{ADMIN_PATH}"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout

    def read(self) -> LiveView:
        return self._call("GET")

    def push(self, revision: str, routes: Mapping[str, RouteState]) -> LiveView:
        """Set ``routes`` for the configuration of ``revision``; nginx refuses (409) another revision."""
        body = {"revision": revision, "routes": {k: [s.mode, s.percent or 0] for k, s in routes.items()}}
        return self._call("POST", json.dumps(body))

    def _call(self, method: str, body: str | None = None) -> LiveView:
        try:
            # trust_env off: a proxy from the environment must never see the token
            with httpx.Client(timeout=self._timeout, trust_env=False) as client:
                response = client.request(method, self.url, headers=self._headers, content=body)
        except httpx.HTTPError as exc:
            raise LiveError(f"the front door's admin endpoint did not answer: {exc}") from None
        if response.status_code != 200:
            reason = response.text.strip()[:200] or response.reason_phrase
            raise LiveError(f"the front door's admin endpoint refused: {response.status_code} {reason}")
        try:
            data = response.json()
            return LiveView(
                revision=str(data["revision"]),
                structure=str(data["structure"]),
                routes={k: RouteState(v[0], v[1] or None) for k, v in data["routes"].items()},
                pushed=frozenset(data["pushed"]),
            )
        except (ValueError, KeyError, TypeError, IndexError):
            nonsense = response.text[:200]
            raise LiveError(f"the front door's admin endpoint answered nonsense: {nonsense}") from None


NJS_SOURCE = r"""// Written by cutover (cutover/proxy/live.py) into the nginx prefix; do not edit.
// The admin endpoint: writes each movable route's live state for the running configuration's revision
// into the live directory, which the route's location tests per request (no JavaScript per request).
import fs from "fs";

const BUCKETS = @BUCKETS@;

function prefix() {
    return ngx.prefix.endsWith("/") ? ngx.prefix : ngx.prefix + "/";
}

function routeDir(revision, id) {
    return prefix() + "@LIVE_DIR@/" + revision + "/" + id;
}

function mkdir(path) {
    try {
        fs.mkdirSync(path);
    } catch (e) {
        if (e.code !== "EEXIST") {
            throw e;
        }
    }
}

function unlink(path) {
    try {
        fs.unlinkSync(path);
    } catch (e) {
        if (e.code !== "ENOENT") {
            throw e;
        }
    }
}

// The route's state as a directory of its own, swapped in whole: one file per bucket, <bucket>.modern
// for buckets 0 to N-1 of a canary at N% (all of them for modern), else <bucket>.legacy, and "state",
// what the admin's view reports. Written under a hidden name, then the route's symlink is replaced with
// rename(2), atomically: a request tests either the old state or the new one, never a mix. A failure
// before the rename leaves the route as it was.
function materialise(revision, id, st) {
    mkdir(prefix() + "@LIVE_DIR@");
    const base = prefix() + "@LIVE_DIR@/" + revision;
    mkdir(base);
    const fresh = "." + id + "." + Date.now() + "." + Math.floor(Math.random() * 1e9);
    fs.mkdirSync(base + "/" + fresh);
    const onModern = st[0] === "modern" ? BUCKETS : st[0] === "canary" ? st[1] : 0;
    for (let b = 0; b < BUCKETS; b++) {
        fs.writeFileSync(base + "/" + fresh + "/" + b + (b < onModern ? ".modern" : ".legacy"), "");
    }
    fs.writeFileSync(base + "/" + fresh + "/state", st[0] + " " + st[1]);
    fs.symlinkSync(fresh, base + "/" + fresh + ".link");
    fs.renameSync(base + "/" + fresh + ".link", base + "/" + id);
    const names = fs.readdirSync(base);
    for (let i = 0; i < names.length; i++) {
        const name = names[i];
        if (name.startsWith("." + id + ".") && name !== fresh && !name.endsWith(".link")) {
            removeDir(base + "/" + name);  // an earlier state of the route: no request reads it now
        }
    }
}

function removeDir(path) {
    const names = fs.readdirSync(path);
    for (let i = 0; i < names.length; i++) {
        unlink(path + "/" + names[i]);
    }
    fs.rmdirSync(path);
}

// The route's pushed state for this revision, or undefined when none was pushed.
function pushedState(revision, id) {
    let text;
    try {
        text = fs.readFileSync(routeDir(revision, id) + "/state", "utf8");
    } catch (e) {
        if (e.code === "ENOENT") {
            return undefined;
        }
        throw e;
    }
    const l = text.split(" ");
    return [l[0], Number(l[1])];
}

// Shadow copies: "" (no copy) until the pause after a failed copy is over, for every worker.
function shadowOpen(r) {
    const until = ngx.shared.cutover_routes.get("shadow:paused-until");
    return until === undefined || Date.now() >= Number(until) ? "1" : "";
}

// A copy failed (error_page 502 504 of the copy's location): pause the copies; the copy itself ends here.
function shadowFailed(r) {
    ngx.shared.cutover_routes.set("shadow:paused-until", String(Date.now() + @SHADOW_PAUSE_MS@));
    const upstream = r.variables.upstream_addr;
    r.warn("cutover: the shadow comparator failed (" + upstream + "); no copies for @SHADOW_PAUSE_MS@ ms");
    r.return(204);
}

function token() {
    return fs.readFileSync(prefix() + "admin.token", "utf8").trim();
}

function authorized(r) {
    const given = r.headersIn.Authorization || "";
    let expected;
    try {
        expected = "Bearer " + token();
    } catch (e) {
        return false;
    }
    if (expected.length < 40 || given.length !== expected.length) {
        return false;
    }
    let diff = 0;
    for (let i = 0; i < given.length; i++) {
        diff |= given.charCodeAt(i) ^ expected.charCodeAt(i);
    }
    return diff === 0;
}

function reply(r, status, data) {
    r.headersOut["Content-Type"] = "application/json";
    r.headersOut["Cache-Control"] = "no-store";
    r.return(status, JSON.stringify(data) + "\n");
}

// $cutover_route_table: "<revision> <structure> <route>=<mode>:<percent> ..." (every movable route).
function table(r) {
    const parts = r.variables.cutover_route_table.split(" ");
    const routes = {};
    for (let i = 2; i < parts.length; i++) {
        const eq = parts[i].indexOf("=");
        const st = parts[i].slice(eq + 1).split(":");
        routes[parts[i].slice(0, eq)] = [st[0], Number(st[1])];
    }
    return { revision: parts[0], structure: parts[1], routes: routes };
}

function view(t) {
    const routes = {};
    const pushed = [];
    for (const id in t.routes) {
        const live = pushedState(t.revision, id);
        if (live === undefined) {
            routes[id] = t.routes[id];
        } else {
            routes[id] = live;
            pushed.push(id);
        }
    }
    return { revision: t.revision, structure: t.structure, routes: routes, pushed: pushed };
}

function valid(state) {
    if (!Array.isArray(state) || state.length !== 2 || !Number.isInteger(state[1])) {
        return false;
    }
    if (state[0] === "canary") {
        return state[1] >= 1 && state[1] <= 99;
    }
    return (state[0] === "legacy" || state[0] === "modern") && state[1] === 0;
}

// GET: the live view. POST {"revision": R, "routes": {id: [mode, percent]}}: all or nothing, only for
// the running configuration's revision and its movable routes.
function admin(r) {
    if (!authorized(r)) {
        r.headersOut["WWW-Authenticate"] = "Bearer";
        return reply(r, 401, { error: "a valid admin token is required" });
    }
    const t = table(r);
    if (r.method === "GET") {
        try {
            return reply(r, 200, view(t));
        } catch (e) {
            return reply(r, 500, { error: "cannot read the live directory: " + e.message });
        }
    }
    if (r.method !== "POST") {
        return reply(r, 405, { error: "GET or POST" });
    }
    let body;
    try {
        body = JSON.parse(r.requestText || "");
    } catch (e) {
        return reply(r, 400, { error: "the body must be JSON" });
    }
    if (!body || typeof body.routes !== "object" || body.routes === null) {
        return reply(r, 400, { error: "routes must be an object" });
    }
    if (body.revision !== t.revision) {
        return reply(r, 409, { error: "revision " + body.revision + " is not the running " + t.revision });
    }
    for (const id in body.routes) {
        if (t.routes[id] === undefined) {
            return reply(r, 400, { error: "no movable route " + id + " in the running configuration" });
        }
        if (!valid(body.routes[id])) {
            return reply(r, 400, { error: "invalid state for " + id });
        }
    }
    try {
        for (const id in body.routes) {
            materialise(t.revision, id, body.routes[id]);
        }
        return reply(r, 200, view(t));
    } catch (e) {
        return reply(r, 500, { error: "cannot write the live directory: " + e.message });
    }
}

export default { admin, shadowOpen, shadowFailed };
"""
NJS_SOURCE = (
    NJS_SOURCE.replace("@SHADOW_PAUSE_MS@", str(SHADOW_PAUSE_MS))
    .replace("@BUCKETS@", str(BUCKETS))
    .replace("@LIVE_DIR@", LIVE_DIR)
)


def write_njs_module(prefix: Path, directory: str) -> Path:
    """Write the routing module into the nginx prefix, beside transport.py's (``js_path``)."""
    path = prefix / directory / NJS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != NJS_SOURCE:
        path.write_text(NJS_SOURCE, encoding="utf-8")
    return path


__all__ = [
    "ADMIN_PATH",
    "BUCKETS",
    "LIVE_DIR",
    "NJS_FILE",
    "TOKEN_FILE",
    "AdminClient",
    "LiveError",
    "LiveView",
    "RouteState",
    "check_admin_address",
    "ensure_token",
    "new_revision",
    "states",
    "structure",
]
