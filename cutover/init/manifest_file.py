"""Writing the routing manifest ``cutover init`` proposes, into a new file or over one the user edited.

Run again after the project grew, it adds the routes of new URLs at the end, marks (with a comment on its
``id`` line) a route no Django URL serves any more, and changes nothing else: a route the user renamed,
re-pointed or moved keeps what the user wrote, comments and order included (tomlkit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tomlkit
from tomlkit.items import AoT, Table

from ..proxy.manifest import ProxySettings, parse_document, parse_manifest
from .routes import Proposed, Skipped

__all__ = ["GONE", "merge_manifest", "new_manifest", "note_skipped"]

GONE = "cutover init: no Django URL serves this route any more"

_HEADER = """\
The routing manifest: which backend serves each route behind the front door (docs/cutover.md).
Written by `cutover init` from the project's URLconf; edit it freely (`cutover init` run again adds new
URLs and marks gone ones, and changes nothing you wrote). Every route starts on legacy (Django); move one
with `cutover move ROUTE --to canary --percent N` once its parity cases are green.

Matching order (nginx's): an exact path first, then the longest prefix, then patterns in file order,
then [default]. A route covers only the methods it lists; other methods on its path go to [default]."""


def new_manifest(
    routes: Sequence[Proposed], *, legacy: str, modern: str, session_cookie: str = "sessionid"
) -> tomlkit.TOMLDocument:
    doc = tomlkit.document()
    for line in _HEADER.splitlines():
        doc.add(tomlkit.comment(line) if line else tomlkit.nl())
    doc.add(tomlkit.nl())
    if session_cookie != ProxySettings.session_cookie:
        proxy = tomlkit.table()
        proxy.add("session_cookie", session_cookie)
        proxy["session_cookie"].comment("the project's SESSION_COOKIE_NAME: canaries stick by it")
        doc.add("proxy", proxy)
    backends = tomlkit.table(is_super_table=True)
    backends.add("legacy", _table(servers=[legacy]))
    backends.add("modern", _table(servers=[modern]))
    doc.add("backends", backends)
    doc.add("default", _table(backend="legacy"))
    aot = tomlkit.aot()
    for route in routes:
        aot.append(_route_table(route))
    doc.add("routes", aot)
    return doc


def merge_manifest(
    text: str, routes: Sequence[Proposed], source: str, still_served: Callable[[str, str], bool]
) -> tuple[str, list[str], list[str]]:
    """``text`` with the proposed routes it lacks appended and gone ones marked: the new text, the ids
    added and the ids marked. A route is kept as it is when its id or its ``(match, path)`` is proposed,
    or when ``still_served(match, path)`` says Django still serves it."""
    parse_manifest(text, source)  # a manifest that is not valid now is not edited
    doc = parse_document(text, source)
    tables = doc.get("routes")
    if tables is None:
        tables = tomlkit.aot()
        doc.add("routes", tables)
    assert isinstance(tables, AoT | list)
    have_ids = {str(t.get("id")) for t in tables}
    have_paths = {(str(t.get("match")), str(t.get("path"))) for t in tables}
    proposed_ids = {r.id for r in routes}
    proposed_paths = {(r.match, r.path) for r in routes}
    marked: list[str] = []
    for table in tables:
        key = (str(table.get("match")), str(table.get("path")))
        if str(table.get("id")) in proposed_ids or key in proposed_paths or still_served(*key):
            continue
        item = table["id"]
        if GONE not in (item.trivia.comment or ""):
            item.comment(GONE)
            marked.append(str(table.get("id")))
    added: list[str] = []
    for route in routes:
        if route.id in have_ids or (route.match, route.path) in have_paths:
            continue
        tables.append(_route_table(route))
        added.append(route.id)
    new_text = tomlkit.dumps(doc)
    parse_manifest(new_text, source)
    return new_text, added, marked


def note_skipped(text: str, skipped: Sequence[Skipped]) -> str:
    """``text`` with a comment at its end for each pattern no route could be written for (once each):
    its requests fall to ``[default]``, the legacy, which is where they stay."""
    notes = [
        f"# cutover init: no route for {s.reason}; its requests stay on [default] (legacy)" for s in skipped
    ]
    missing = [note for note in notes if note not in text]
    if not missing:
        return text
    return text.rstrip("\n") + "\n\n" + "\n".join(missing) + "\n"


def _table(**values: object) -> Table:
    table = tomlkit.table()
    for key, value in values.items():
        table.add(key, value)
    return table


def _route_table(route: Proposed) -> Table:
    table = tomlkit.table()
    if route.comment:
        table.add(tomlkit.comment(route.comment))
    table.add("id", route.id)
    if route.description:
        table.add("description", route.description[:200])
    table.add("match", route.match)
    table.add("path", route.path)
    table.add("methods", list(route.methods))
    table.add("mode", "legacy")
    if route.pinned:
        table.add("pinned", True)
    return table
