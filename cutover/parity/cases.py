"""Parity cases: a request against a known database state, tagged with the route it exercises.

Cases are data. Each ``*.toml`` file in a cases directory holds the cases of one route::

    route = "orders"                      # a route id of the manifest

    [defaults]                            # merged into every case of the file
    path = "/api/orders/"
    auth = "token:maria"                  # SCHEME:USER, USER a username of the fixture

    [[cases]]
    id = "list-search-unicode"
    query = { search = "zoë" }

    [[cases]]
    id = "create-ok"
    method = "POST"
    auth = "session:maria"
    body = { item = "book", quantity = 2 }

What data cannot say goes in Python: a case may name ``hook = "module:function"``, called with the case
and the fixture just before the case runs, returning the case to run (for example with a path computed
from fixture ids), and a ``*.py`` file in the cases directory may define ``cases(fixture)`` returning
more :class:`Case` objects.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "SAFE_METHODS",
    "Auth",
    "Case",
    "CaseError",
    "check_routes",
    "load_case_file",
    "load_cases",
    "parse_auth",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE"})
CsrfMode = Literal["valid", "plain", "missing", "wrong"]
Hook = Callable[["Case", Any], "Case"]
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class _NoBody:
    """The absence of a JSON body (``None`` is a JSON body): one object, kept one through pickling (a
    parallel job sends its cases back to the parent)."""

    def __reduce__(self) -> str:
        return "_NO_BODY"

    def __repr__(self) -> str:
        return "<no body>"


_NO_BODY = _NoBody()


class CaseError(ValueError):
    """A case file that cannot be used: the message names the file and the case."""


@dataclass(frozen=True)
class Auth:
    """Who a request authenticates as, and how: ``SCHEME:USER``, or anonymous.

    ``scheme`` names a credential scheme: built in (``token``, ``session``, ``jwt``, ``basic``) or the
    project's own (``[identities.schemes]``); ``user`` is a username of the fixture. ``csrf`` says what a
    cookie-authenticated unsafe request sends as its CSRF token.
    """

    scheme: str = "anonymous"
    user: str | None = None
    csrf: CsrfMode = "valid"

    @property
    def anonymous(self) -> bool:
        return self.scheme == "anonymous"

    def __str__(self) -> str:
        if self.anonymous:
            return "anonymous"
        suffix = "" if self.csrf == "valid" else f" (csrf {self.csrf})"
        return f"{self.scheme}:{self.user}{suffix}"


_SCHEME = re.compile(r"^[a-z][a-z0-9_-]*$")


def parse_auth(spec: str | None, csrf: str | None = None) -> Auth:
    """``anonymous`` or ``SCHEME:USER`` -> :class:`Auth` (whether the scheme exists is checked later)."""
    mode = csrf or "valid"
    if mode not in ("valid", "plain", "missing", "wrong"):
        raise CaseError(f"csrf must be valid, plain, missing or wrong, got {csrf!r}")
    if spec is None or spec == "anonymous":
        return Auth(csrf=mode)  # type: ignore[arg-type]
    scheme, sep, user = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if not sep or not _SCHEME.match(scheme) or not user:
        raise CaseError(f"auth must be 'anonymous' or 'SCHEME:USER' (token:maria, say), got {spec!r}")
    return Auth(scheme, user, mode)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    """One request, run against both apps from the same database state."""

    id: str
    route: str
    method: str = "GET"
    path: str = "/"
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    # Exactly one of: a JSON value (``json``), form fields (``form``), or raw text with its content type.
    json: Any = _NO_BODY
    form: tuple[tuple[str, str], ...] | None = None
    raw: str | None = None
    content_type: str | None = None
    auth: Auth = field(default_factory=Auth)
    description: str = ""
    # Statements run after the reset and before the request: the case's own database state.
    setup_sql: tuple[str, ...] = ()
    # Run the legacy twice and report what differs between the two runs as noise.
    detect_noise: bool = True
    source: str = ""
    generated: bool = False
    # Called with the case and the loaded fixture just before the case runs; returns the case to run.
    hook: Hook | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """The case's name in reports and test ids: ``<route>/<id>``."""
        return f"{self.route}/{self.id}"

    @property
    def has_json(self) -> bool:
        return self.json is not _NO_BODY

    @property
    def safe(self) -> bool:
        """True when the request cannot change state (the only cases live mode runs without a reset)."""
        return self.method in SAFE_METHODS and not self.setup_sql

    def body_password(self) -> str | None:
        """The password this request sends, if any: what a written hash is verified against."""
        if self.has_json and isinstance(self.json, Mapping):
            value = self.json.get("password")
            return value if isinstance(value, str) else None
        if self.form is not None:
            return dict(self.form).get("password")
        return None

    def with_changes(self, **changes: Any) -> Case:
        return replace(self, **changes)

    def prepared(self, fixture: Any) -> Case:
        """The case to run: its hook applied (with the fixture as loaded), else itself."""
        if self.hook is None:
            return self
        try:
            result = self.hook(self, fixture)
        except Exception as exc:
            raise CaseError(f"{self.source or self.key} case {self.id!r}: the hook raised {exc!r}") from exc
        if not isinstance(result, Case):
            raise CaseError(
                f"{self.source or self.key} case {self.id!r}: hook returned {type(result).__name__}, not Case"
            )
        return replace(result, hook=None)

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{self.method} {self.path}{'?' + query if query else ''} as {self.auth}"


_CASE_KEYS = {
    "id", "method", "path", "query", "headers", "body", "form", "raw", "content_type", "auth", "csrf",
    "description", "setup_sql", "detect_noise", "hook",
}  # fmt: skip


def _pairs(value: Any, what: str, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise CaseError(f"{where}: {what} must be a table of strings")
    out: list[tuple[str, str]] = []
    for k, v in value.items():
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, bool):
                item = "true" if item else "false"
            if not isinstance(item, str | int | float):
                raise CaseError(f"{where}: {what}.{k} must be a string, number or list of them")
            out.append((str(k), str(item)))
    return tuple(out)


def _import_file(path: Path) -> Any:
    name = f"parity_cases_{path.parent.name}_{path.stem}".replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CaseError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _resolve(ref: str, where: str, directory: Path) -> Callable[..., Any]:
    module, sep, name = ref.partition(":")
    if not sep:
        raise CaseError(f"{where}: hook must be 'module:function' or 'file.py:function', got {ref!r}")
    try:
        if module.endswith(".py"):  # a file next to the case file
            fn = getattr(_import_file(directory / module), name)
        else:
            fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, OSError) as exc:
        raise CaseError(f"{where}: cannot import hook {ref!r}: {exc}") from exc
    if not callable(fn):
        raise CaseError(f"{where}: hook {ref!r} is not callable")
    return fn  # type: ignore[no-any-return]


def _build(route: str, raw: Mapping[str, Any], source: str, directory: Path) -> Case:
    where = f"{source} case {raw.get('id', '?')!r}"
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise CaseError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    case_id = raw.get("id")
    if not isinstance(case_id, str) or not _ID.match(case_id):
        raise CaseError(f"{where}: id must be lowercase letters, digits, '.', '_' or '-'")
    method = str(raw.get("method", "GET")).upper()
    if method not in METHODS:
        raise CaseError(f"{where}: unsupported method {method!r}")
    path = raw.get("path")
    if path is None:
        raise CaseError(f"{where}: no path (in the case or the file's [defaults])")
    if not isinstance(path, str) or not path.startswith("/"):
        raise CaseError(f"{where}: path must start with '/'")
    bodies = [k for k in ("body", "form", "raw") if k in raw]
    if len(bodies) > 1:
        raise CaseError(f"{where}: give only one of body, form, raw")
    if "raw" in raw and not isinstance(raw["raw"], str):
        raise CaseError(f"{where}: raw must be a string")
    setup = raw.get("setup_sql", [])
    if isinstance(setup, str):
        setup = [setup]
    try:
        auth = parse_auth(raw.get("auth"), raw.get("csrf"))
    except CaseError as exc:
        raise CaseError(f"{where}: {exc}") from None
    case = Case(
        id=case_id,
        route=route,
        method=method,
        path=path,
        query=_pairs(raw.get("query"), "query", where),
        headers=_pairs(raw.get("headers"), "headers", where),
        json=raw["body"] if "body" in raw else _NO_BODY,
        form=_pairs(raw["form"], "form", where) if "form" in raw else None,
        raw=raw.get("raw"),
        content_type=raw.get("content_type"),
        auth=auth,
        description=str(raw.get("description", "")),
        setup_sql=tuple(str(s) for s in setup),
        detect_noise=bool(raw.get("detect_noise", True)),
        source=source,
        hook=_resolve(raw["hook"], where, directory) if "hook" in raw else None,
    )
    return case


def load_case_file(path: Path) -> list[Case]:
    """The cases of one TOML file (hooks resolved, applied only when each case runs)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CaseError(f"{path}: {exc}") from exc
    route = doc.get("route")
    if not isinstance(route, str) or not route:
        raise CaseError(f'{path}: missing `route = "<route id>"`')
    unknown = set(doc) - {"route", "defaults", "cases"}
    if unknown:
        raise CaseError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    defaults = doc.get("defaults", {})
    entries = doc.get("cases", [])
    if not isinstance(entries, list):
        raise CaseError(f"{path}: cases must be an array of tables ([[cases]])")
    return [_build(route, {**defaults, **entry}, path.name, path.parent) for entry in entries]


def load_cases(
    directory: Path,
    *,
    routes: Sequence[str] | None = None,
    fixture: Any = None,
    extra: Iterable[Case] = (),
) -> list[Case]:
    """Every case under ``directory`` (TOML files, then ``cases(fixture)`` of Python files).

    Hooks are resolved now and applied when each case runs (:meth:`Case.prepared`), with the fixture as
    the database holds it. ``routes`` keeps only the cases of those route ids. Raises :class:`CaseError`
    on a malformed file or a duplicate case.
    """
    if not directory.is_dir():
        raise CaseError(f"no cases directory at {directory}")
    loaded: list[Case] = []
    for path in sorted(directory.glob("*.toml")):
        loaded.extend(load_case_file(path))
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = _import_file(path)
        if hasattr(module, "cases"):
            loaded.extend(module.cases(fixture))
    loaded.extend(extra)
    seen: set[str] = set()
    for case in loaded:
        if case.key in seen:
            raise CaseError(f"duplicate case {case.key!r}")
        seen.add(case.key)
    if routes:
        loaded = [c for c in loaded if c.route in set(routes)]
    return loaded


def check_routes(cases: Iterable[Case], routes: Sequence[str], directory: Path) -> None:
    """Refuse a case whose ``route`` is not one of ``routes`` (the manifest's ids): a typo would otherwise
    make a route of its own that nothing serves, green in every report. CaseError names the file (under
    ``directory``), the case, the id and the known ids."""
    known = set(routes)
    for case in cases:
        if case.route not in known:
            shown = ", ".join(routes[:_SHOWN_ROUTES])
            if len(routes) > _SHOWN_ROUTES:
                shown += f", ... ({len(routes)} in all)"
            where = directory / case.source if case.source else directory
            raise CaseError(
                f"{where} case {case.id!r}: route {case.route!r} is not a route id of the manifest "
                f"(known: {shown or 'none'})"
            )


_SHOWN_ROUTES = 10


def encode_body(case: Case) -> tuple[bytes | None, str | None]:
    """The request body and its content type, exactly as the case describes them."""
    if case.has_json:
        return json.dumps(case.json, ensure_ascii=False).encode(), case.content_type or "application/json"
    if case.form is not None:
        from urllib.parse import urlencode

        return urlencode(case.form).encode(), case.content_type or "application/x-www-form-urlencoded"
    if case.raw is not None:
        return case.raw.encode(), case.content_type
    return None, case.content_type
