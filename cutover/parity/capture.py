"""Turn a case into a request, and a response plus the rows it changed into a comparable observation.

An observation is plain data::

    {"status": 201,
     "headers": {"content-type": "application/json", "allow": [...], "set-cookie": {...}, ...},
     "body": <parsed JSON> | {"text": "..."} | None,
     "rows": {"orders": {"121": {"op": "insert", "row": {...}}}, ...}}

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
from .tables import Tables
from .targets import Request, Response, Target

__all__ = ["HEADER_WHITELIST", "Observation", "build_request", "observe", "observe_response", "row_changes"]


HEADER_WHITELIST = ("content-type", "location", "allow", "www-authenticate", "vary", "set-cookie")
NOW_TOLERANCE = 300.0  # seconds: a write on a slow, shared machine still counts as "now"
NEAR = 400 * 86400.0  # beyond this a timestamp is rendered as itself, not relative to the request
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")


@dataclass(frozen=True)
class Observation:
    """What one run of a case produced, normalised."""

    target: str
    data: dict[str, Any]
    request: Request
    elapsed: float


def build_request(case: Case, fixture: Fixture) -> Request:
    """The HTTP request of ``case``: its own headers plus the credentials its ``auth`` names.

    A header or cookie the case sends itself wins over the credential's (a malformed credential, say).
    A request carrying cookies is cookie-authenticated: the CSRF cookie goes with it and, on an unsafe
    method, the CSRF header as the case's ``csrf`` says.
    """
    headers = list(case.headers)
    names = {k.lower() for k, _ in headers}
    body, content_type = encode_body(case)
    if content_type and "content-type" not in names:
        headers.append(("Content-Type", content_type))
    auth = case.auth
    if auth.anonymous or auth.user is None:
        return Request(case.method, case.path, case.query, tuple(headers), body)
    credential = fixture.credential(auth.scheme, auth.user)
    for name, value in credential.headers:
        if name.lower() not in names:
            headers.append((name, value))
    if credential.cookies and "cookie" not in names:
        cookies = list(credential.cookies)
        if fixture.csrf.cookie is not None:
            cookies.append((fixture.csrf.cookie, fixture.csrf.secret))
        headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies)))
        if case.method not in SAFE_METHODS:
            token = fixture.csrf.token(auth.csrf)
            if token is not None and fixture.csrf.header.lower() not in names:
                headers.append((fixture.csrf.header, token))
    return Request(case.method, case.path, case.query, tuple(headers), body)


def observe(
    case: Case, target: Target, request: Request, response: Response, before: Snapshot, after: Snapshot,
    fixture: Fixture,
) -> Observation:  # fmt: skip
    """Normalise one response and the rows changed between ``before`` and ``after``."""
    norm = _Normaliser(target.origin, response.started, case, fixture)
    data = {**_response_data(case, response, norm), "rows": row_changes(before, after, norm, fixture.tables)}
    return Observation(target.name, data, request, response.elapsed)


def observe_response(case: Case, origin: str, response: Response) -> dict[str, Any]:
    """Status, headers and body of ``response``, normalised as :func:`observe` does, without rows or a
    fixture (shadow comparisons of live traffic: no database state is known, no fixture secret named)."""
    return _response_data(case, response, _Normaliser(origin, response.started, case, None))


def _response_data(case: Case, response: Response, norm: _Normaliser) -> dict[str, Any]:
    return {
        "status": response.status,
        "headers": _headers(response, norm),
        # Servers never send a body with a HEAD response (RFC 9110); in-process transports do not strip it.
        "body": None if case.method == "HEAD" else _body(response, norm),
    }


class _Normaliser:
    def __init__(self, origin: str, started: float, case: Case, fixture: Fixture | None) -> None:
        self.origin = origin
        self.started = started
        self.case = case
        self.fixture = fixture
        self._secret_names = fixture.secret_names() if fixture is not None else {}

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
        if username and self.fixture is not None and username in self.fixture.passwords:
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


def row_changes(before: Snapshot, after: Snapshot, norm: Any, tables: Tables) -> dict[str, Any]:
    """Per table, the rows inserted, updated (changed columns only) and deleted, normalised.

    Rows are labelled by their key. An inserted row of a table whose key is not drawn from a sequence (a
    random session or token key, a UUID) has no identity across two apps: such rows are numbered
    ``new-1``, ``new-2`` in the order of their normalised content, and their key columns show their shape.
    """
    out: dict[str, Any] = {}
    for name in sorted(after.keys() | before.keys()):
        table = tables.get(name)
        random_key = table is not None and not table.serial
        old, new = before.get(name, {}), after.get(name, {})
        changes: dict[str, Any] = {}
        keys = sorted(new.keys() - old.keys())
        inserted = [_row(name, new[k], new[k].items(), norm, tables, inserted=True) for k in keys]
        if random_key:
            inserted.sort(key=lambda row: repr(sorted(row.items())))
            labels = [f"new-{n}" for n in range(1, len(inserted) + 1)]
        else:
            labels = keys
        for label, row in zip(labels, inserted, strict=True):
            changes[label] = {"op": "insert", "row": row}
        for key in sorted(old.keys() - new.keys()):
            changes[norm.string(key)] = {"op": "delete"}
        for key in sorted(old.keys() & new.keys()):
            columns = [(c, v) for c, v in new[key].items() if old[key].get(c) != v]
            if columns:
                changes[norm.string(key)] = {
                    "op": "update",
                    "columns": _row(name, new[key], columns, norm, tables, inserted=False),
                }
        if changes:
            out[name] = changes
    return out


def _row(
    name: str, row: Mapping[str, Any], columns: Any, norm: Any, tables: Tables, *, inserted: bool
) -> dict[str, Any]:
    table = tables.get(name)
    # A random key of a new row (no sequence): its shape, unless it is a known secret with a name.
    random_key = set(table.key) if inserted and table is not None and not table.serial else set()
    return {
        c: _shape(v)
        if c in random_key and isinstance(v, str) and norm.string(v) == v
        else _column(name, c, v, row, norm, tables)
        for c, v in columns
    }


def _shape(value: str) -> str:
    return f"<{len(value)} characters{', hex' if re.fullmatch(r'[0-9a-f]+', value) else ''}>"


def _column(table: str, column: str, value: Any, row: Mapping[str, Any], norm: Any, tables: Tables) -> Any:
    if (table, column) in tables.hashed and isinstance(value, str):
        username = row.get(tables.user[1]) if tables.user is not None and table == tables.user[0] else None
        return norm.password(value, username)
    if tables.session == (table, column) and isinstance(value, str):
        return _session_data(value)
    if (table, column) in tables.secret_columns and isinstance(value, str):
        named = norm.string(value)
        return named if named != value else _shape(value)
    return norm.value(value)


def _session_data(encoded: str) -> Any:
    from importlib import import_module

    from django.conf import settings

    data = import_module(settings.SESSION_ENGINE).SessionStore().decode(encoded)
    if not data:
        return "<undecodable session data>"
    from django.contrib.auth import HASH_SESSION_KEY

    if HASH_SESSION_KEY in data:
        data[HASH_SESSION_KEY] = "<present>"
    return data
