"""Turn a case into a request, and a response plus the rows it changed into a comparable observation.

An observation is plain data::

    {"status": 201,
     "headers": {"content-type": "application/json", "allow": [...], "set-cookie": {...}, ...},
     "body": <parsed JSON> | {"text": "..."} | None,
     "rows": {"users": {"121": {"op": "insert", "row": {...}}}, ...}}

Normalisation happens here, each for a stated reason, so that comparison can be strict equality:
- links to the target's own origin become ``<origin>`` (two live servers have two hosts);
- a timestamp within a few minutes of the request becomes ``<now>`` (with its rendering shape, so a
  change of format is still a difference); later ones ``<now+336.0h>`` (session expiry, for example);
- a password hash becomes its algorithm, iteration count and which known password it verifies
  (salts are random: equal strings are the wrong test);
- header lists that are sets by definition (``Allow``, ``Vary``) are compared as sets.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .cases import SAFE_METHODS, Case, encode_body
from .fixture import Fixture, Snapshot
from .targets import Request, Response, Target

__all__ = ["HEADER_WHITELIST", "Observation", "build_request", "observe", "row_changes"]

HEADER_WHITELIST = ("content-type", "location", "allow", "www-authenticate", "vary", "set-cookie")
NOW_TOLERANCE = 300.0  # seconds: a write on a slow, shared machine still counts as "now"
NEAR = 400 * 86400.0  # beyond this a timestamp is rendered as itself, not relative to the request
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")
_HASH_COLUMNS = {("users", "password")}


@dataclass(frozen=True)
class Observation:
    """What one run of a case produced, normalised."""

    target: str
    data: dict[str, Any]
    request: Request
    elapsed: float


def build_request(case: Case, fixture: Fixture) -> Request:
    """The HTTP request of ``case``: its own headers plus the credentials its ``auth`` names."""
    headers = list(case.headers)
    names = {k.lower() for k, _ in headers}
    body, content_type = encode_body(case)
    if content_type and "content-type" not in names:
        headers.append(("Content-Type", content_type))
    auth = case.auth
    if auth.kind == "token" and "authorization" not in names:
        headers.append(("Authorization", f"Token {_credential(fixture.tokens, auth.identity, 'token')}"))
    elif auth.kind == "session" and "cookie" not in names:
        session = _credential(fixture.sessions, auth.identity, "session")
        headers.append(("Cookie", f"sessionid={session}; csrftoken={fixture.csrf_secret}"))
        if case.method not in SAFE_METHODS:
            token = fixture.csrf_token(auth.csrf)
            if token is not None:
                headers.append(("X-CSRFToken", token))
    return Request(case.method, case.path, case.query, tuple(headers), body)


def _credential(table: Mapping[str, str], identity: str | None, kind: str) -> str:
    if identity is None or identity not in table:
        known = ", ".join(sorted(table))
        raise KeyError(f"no {kind} credential {identity!r} in the fixture (known: {known})")
    return table[identity]


def observe(
    case: Case, target: Target, request: Request, response: Response, before: Snapshot, after: Snapshot,
    fixture: Fixture,
) -> Observation:  # fmt: skip
    """Normalise one response and the rows changed between ``before`` and ``after``."""
    norm = _Normaliser(target.origin, response.started, case, fixture)
    data = {
        "status": response.status,
        "headers": _headers(response, norm),
        # Servers never send a body with a HEAD response (RFC 9110); in-process transports do not strip it.
        "body": None if case.method == "HEAD" else _body(response, norm),
        "rows": row_changes(before, after, norm),
    }
    return Observation(target.name, data, request, response.elapsed)


class _Normaliser:
    def __init__(self, origin: str, started: float, case: Case, fixture: Fixture) -> None:
        self.origin = origin
        self.started = started
        self.case = case
        self.fixture = fixture
        self._secret_names = {
            v: f"<fixture {kind} {k}>"
            for kind, table in (("token", fixture.tokens), ("session", fixture.sessions))
            for k, v in table.items()
        }
        self._secret_names[fixture.csrf_secret] = "<fixture csrf secret>"

    def string(self, value: str) -> str:
        if value in self._secret_names:
            return self._secret_names[value]
        if _ISO.match(value):
            return self._iso(value)
        if self.origin and self.origin in value:
            value = value.replace(self.origin, "<origin>")
        return value

    def _iso(self, value: str) -> str:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is None:
            return value
        relative = self.relative(moment)
        if relative is None:
            return value
        # The shape keeps the rendering (Z or +00:00, microseconds or not) part of the comparison.
        return f"{relative} as {re.sub(r'[0-9]', 'd', value)}"

    def relative(self, moment: datetime) -> str | None:
        offset = moment.timestamp() - self.started
        if abs(offset) <= NOW_TOLERANCE:
            return "<now>"
        if abs(offset) <= NEAR:
            return f"<now{offset / 3600:+.1f}h>"
        return None

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            return self.relative(moment) or moment.astimezone(UTC).isoformat()
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def password(self, encoded: str, username: str | None) -> dict[str, Any] | str:
        if not encoded or encoded.startswith("!"):
            return "<unusable password>"
        parts = encoded.split("$")
        described: dict[str, Any] = {"algorithm": parts[0]}
        if parts[0].startswith("pbkdf2") and len(parts) == 4:
            described["iterations"] = parts[1]
        candidates: list[tuple[str, str]] = []
        sent = self.case.body_password()
        if sent is not None:
            candidates.append(("the password the request sent", sent))
        if username and username in self.fixture.passwords:
            candidates.append((f"the fixture password of {username}", self.fixture.passwords[username]))
        described["verifies"] = next(
            (label for label, raw in candidates if _verifies(raw, encoded)), "no known password"
        )
        return described


@functools.lru_cache(maxsize=256)
def _verifies(raw: str, encoded: str) -> bool:
    from django.contrib.auth.hashers import check_password

    return bool(check_password(raw, encoded))


def _headers(response: Response, norm: _Normaliser) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in HEADER_WHITELIST:
        values = response.headers.get_list(name)
        if not values:
            continue
        if name == "set-cookie":
            out[name] = _cookies(values, norm)
        elif name in ("allow", "vary"):
            # Both are sets by definition (RFC 9110): order is not a difference.
            out[name] = sorted(
                {
                    v.strip().lower() if name == "vary" else v.strip().upper()
                    for joined in values
                    for v in joined.split(",")
                    if v.strip()
                }
            )
        elif name == "content-type":
            out[name] = "; ".join(p.strip() for p in values[-1].split(";"))
        else:
            out[name] = norm.string(values[-1])
    return out


def _cookies(values: list[str], norm: _Normaliser) -> dict[str, dict[str, Any]]:
    cookies: dict[str, dict[str, Any]] = {}
    for header in values:
        first, *attrs = [p.strip() for p in header.split(";")]
        name, _, value = first.partition("=")
        described: dict[str, Any] = {"value": "<empty>" if value in ("", '""') else norm.string(value)}
        if described["value"] == value:
            described["value"] = f"<{len(value)} characters>"  # a new secret: its shape, never itself
        for attr in attrs:
            key, _, val = attr.partition("=")
            key = key.lower()
            if key == "expires":
                continue  # a wall-clock date; max-age says the same thing reproducibly
            described[key] = val if val else True
        cookies[name] = described
    return cookies


def _body(response: Response, norm: _Normaliser) -> Any:
    if not response.body:
        return None
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            return norm.value(json.loads(response.body))
        except ValueError:
            pass
    return {"text": response.body.decode("utf-8", "replace")}


def row_changes(before: Snapshot, after: Snapshot, norm: Any) -> dict[str, Any]:
    """Per table, the rows inserted, updated (changed columns only) and deleted, normalised."""
    usernames = {
        key: row.get("username") for key, row in {**before.get("users", {}), **after.get("users", {})}.items()
    }
    out: dict[str, Any] = {}
    for table in after.keys() | before.keys():
        old, new = before.get(table, {}), after.get(table, {})
        changes: dict[str, Any] = {}
        inserted = sorted(new.keys() - old.keys())
        for n, key in enumerate(inserted, 1):
            # A random key (a new session) is not an identity across apps: number the new rows instead.
            label = key if table != "django_session" else f"new-{n}"
            row = {c: _column(table, c, v, new[key], usernames, norm) for c, v in new[key].items()}
            changes[label] = {"op": "insert", "row": row}
        for key in sorted(old.keys() - new.keys()):
            changes[key] = {"op": "delete"}
        for key in sorted(old.keys() & new.keys()):
            changed = {
                c: _column(table, c, v, new[key], usernames, norm)
                for c, v in new[key].items()
                if old[key].get(c) != v
            }
            if changed:
                changes[key] = {"op": "update", "columns": changed}
        if changes:
            out[table] = changes
    return out


def _column(table: str, column: str, value: Any, row: Mapping[str, Any], usernames: Mapping[str, Any],
            norm: Any) -> Any:  # fmt: skip
    if (table, column) in _HASH_COLUMNS and isinstance(value, str):
        return norm.password(value, row.get("username"))
    if table == "authtoken_token" and column == "key" and isinstance(value, str):
        named = norm.string(value)
        if named != value:
            return named
        return f"<{len(value)} characters, {'hex' if re.fullmatch(r'[0-9a-f]+', value) else 'not hex'}>"
    if table == "django_session" and column == "session_data" and isinstance(value, str):
        return _session_data(value, usernames)
    if table == "django_session" and column == "session_key":
        return norm.string(value) if norm.string(value) != value else f"<{len(value)} characters>"
    return norm.value(value)


def _session_data(encoded: str, usernames: Mapping[str, Any]) -> Any:
    from django.contrib.sessions.backends.db import SessionStore

    data = SessionStore().decode(encoded)
    if not data:
        return "<undecodable session data>"
    if "_auth_user_hash" in data:
        data["_auth_user_hash"] = "<present>"
    return data
