"""Starter parity cases for one route, so that ``cutover parity`` runs as soon as ``cutover init`` has:
the route read anonymously and as each identity given, an object that does not exist, a key its model
field cannot hold (Django's 404, a typed port parameter's 422), HEAD and OPTIONS where the route takes
them (a port's ``@app.get`` answers neither), and, for write methods, an empty body.
They only ask both apps the same question; what the answers must be is left to the team, which adds the
cases that matter (docs/parity.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import tomlkit

from .routes import Proposed

__all__ = ["starter_cases"]

_WRITES = ("POST", "PUT", "PATCH")
# What a view that does not say answers (a function view, "*" in the manifest): everything it is sent.
_ANY = ("GET", "HEAD", "POST", "OPTIONS")


def starter_cases(
    route: Proposed,
    path: str,
    missing: str | None,
    identities: Sequence[str],
    view: str = "",
    values: Mapping[str, str] | None = None,
    malformed: str | None = None,
) -> str:
    """The case file's text for ``route``, whose sample ``path`` Django resolves (``missing``: the same
    shape naming nothing; ``malformed``: with a key the lookup's field cannot hold); ``identities`` are
    ``SCHEME:USER`` strings; ``values`` what each parameter of ``path`` was given, made up by ``init``.
    The lookups are sent anonymously and as the first identity (an anonymous one may only meet a 401)."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Starter cases written by `cutover init` for {route.id}: {path}"))
    if view:
        doc.add(tomlkit.comment(f"View: {view}"))
    doc.add(
        tomlkit.comment("Edit and add to them (docs/parity.md); `cutover init` never rewrites this file.")
    )
    for name, value in (values or {}).items():
        verb, made_up = ("CHECK", "guessed") if value.isdigit() else ("REPLACE", "made up")
        doc.add(tomlkit.comment(f"{verb}: {name} {value!r} in [defaults] path was {made_up} by `init`:"))
        doc.add(tomlkit.comment(f"put a {name} your [parity] fixture holds, else the cases only meet a 404."))
    if not identities:
        doc.add(
            tomlkit.comment(
                'No identities yet: add cases with auth = "token:USER" (or session, jwt, basic) once the'
            )
        )
        doc.add(tomlkit.comment("[parity] fixture has users, or run `cutover init --user NAME`."))
    doc.add("route", route.id)
    defaults = tomlkit.table()
    defaults.add("path", path)
    doc.add(tomlkit.nl())
    doc.add("defaults", defaults)
    cases = tomlkit.aot()
    methods = [m for m in route.methods if m != "*"] or list(_ANY)
    read = "GET" if "GET" in methods else None
    if read:
        cases.append(_case("anonymous", read))
        for identity in identities:
            cases.append(_case(f"as-{identity.replace(':', '-')}", read, auth=identity))
        if missing:
            cases.extend(_anonymous_and_first("not-found", read, identities, path=missing))
        if malformed:
            cases.extend(_anonymous_and_first("malformed-key", read, identities, path=malformed))
        if "HEAD" in methods:  # Django answers HEAD wherever it answers GET; the body is not compared
            cases.extend(_anonymous_and_first("head", "HEAD", identities))
    for method in methods:
        if method in _WRITES:
            cases.append(_case(f"{method.lower()}-empty-body", method, body={}))
            for identity in identities[:1]:
                name = f"{method.lower()}-empty-body-as-{identity.replace(':', '-')}"
                cases.append(_case(name, method, body={}, auth=identity))
        elif method == "DELETE" and missing:
            cases.append(_case("delete-not-found", method, path=missing))
    if "OPTIONS" in methods:  # DRF's metadata (name, description, renders, parses) and the Allow header
        cases.extend(_anonymous_and_first("options", "OPTIONS", identities))
    if not cases:
        cases.append(_case("anonymous", methods[0]))
    doc.add("cases", cases)
    return tomlkit.dumps(doc)


def _anonymous_and_first(
    case_id: str, method: str, identities: Sequence[str], **values: object
) -> list[tomlkit.items.Table]:
    """``method`` anonymously, and as the first identity (an anonymous request may only meet a 401)."""
    first = [_case(f"{case_id}-as-{i.replace(':', '-')}", method, **values, auth=i) for i in identities[:1]]
    return [_case(case_id, method, **values), *first]


def _case(case_id: str, method: str, **values: object) -> tomlkit.items.Table:
    table = tomlkit.table()
    # What a case id may hold (cases.py): a user "alice@example.com" becomes "alice-example.com".
    table.add("id", re.sub(r"[^a-z0-9._-]+", "-", case_id.lower().replace("_", "-")))
    if method != "GET":
        table.add("method", method)
    for key, value in values.items():
        table.add(key, tomlkit.inline_table() if value == {} else value)
    return table
