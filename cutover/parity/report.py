"""The parity report: JSON (read by the cutover gate through :mod:`cutover.parity.verdict`) and JUnit XML.

JSON format (``"format": 1``)::

    {
      "format": 1,
      "generated_at": "2026-11-28T02:00:00Z",
      "revision": {"commit": "<git HEAD>", "dirty": false, "tree": "<sha256 of uncommitted changes>"},
      "mode": "in-process" | "live",
      "legacy": "...", "modern": "...",
      "routes": {
        "orders": {
          "status": "green" | "red",
          "cases": 60, "matched": 60, "mismatched": 0, "errors": 0, "noise": 2, "blocked": 0,
          "mismatches": [{"case": "orders/x", "description": "...", "request": {...},
                          "differences": [{"path": "...", "legacy": ..., "modern": ...}], "error": ""}],
          "blocking": [{"case": "orders/x", "kind": "call", "function": "time.sleep", "via": [],
                        "frame": "service/routes/orders.py:42 in list_orders", "held_ms": 50.1}]
        }
      },
      "blocking": {"checked": true, "policy": "fail" | "warn"},
      "totals": {"cases": ..., "matched": ..., "mismatched": ..., "errors": ..., "noise": ..., "blocked": ...}
    }

Every value in it has passed through the redactor: no credential, cookie, CSRF token or password.
A route's status is green only with at least one case and every case matched, and (``[parity] blocking =
"fail"``, the default) no case made a blocking call on the modern app's event loop
(:mod:`cutover.parity.blocking`; ``"warn"`` lists them and leaves the status to the comparison).
``blocked`` counts the cases that did; ``blocking`` lists what blocked, once per case, function and frame.
The routes listed are the manifest's and those of the cases run: a route not run is red with no cases
(unless kept from a previous report of the same revision, :func:`merge_previous`). Whether a green route
may move for the code checked out now is :func:`cutover.parity.verdict.verdict`'s answer.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .blocking import BlockingCall, summary
from .redact import Redactor
from .runner import CaseResult
from .verdict import FORMAT, Revision, current_revision

__all__ = ["build_report", "merge_previous", "write_junit", "write_report"]


def _counts(
    results: Sequence[CaseResult], blocking: Mapping[str, Sequence[BlockingCall]] | None = None
) -> dict[str, int]:
    counts = {
        "cases": len(results),
        "matched": sum(r.outcome == "match" for r in results),
        "mismatched": sum(r.outcome == "mismatch" for r in results),
        "errors": sum(r.outcome == "error" for r in results),
        "noise": sum(bool(r.noise) for r in results),
    }
    if blocking is not None:
        counts["blocked"] = sum(bool(blocking.get(r.case.key)) for r in results)
    return counts


def blocking_entries(case: str, calls: Sequence[BlockingCall]) -> list[dict[str, Any]]:
    """The report's entries for one case's blocking calls: one per kind, function and frame."""
    entries = []
    for call, count, longest in summary(list(calls)):
        entry = {"case": case, **call.as_dict(), "held_ms": round(longest * 1000, 3)}
        if count > 1:
            entry["count"] = count
        entries.append(entry)
    return entries


def _entry(result: CaseResult, redactor: Redactor) -> dict[str, Any]:
    observed = result.legacy or result.modern
    request = observed.request if observed is not None else None
    entry: dict[str, Any] = {"case": result.case.key, "description": result.case.description}
    if request is not None:
        body = request.body.decode("utf-8", "replace") if request.body else None
        try:
            body_value: Any = json.loads(body) if body else None
        except ValueError:
            body_value = body
        entry["request"] = {
            "method": request.method,
            "path": request.path,
            "query": [list(p) for p in request.query],
            "headers": redactor.headers(request.headers),
            "body": redactor.value(body_value),
        }
    entry["auth"] = str(result.case.auth)
    entry["differences"] = [redactor.value(d.as_dict(redactor)) for d in result.mismatches]
    if result.error:
        entry["error"] = redactor.text(result.error)
    return entry


def build_report(
    results: Sequence[CaseResult], redactor: Redactor, *, mode: str, legacy: str, modern: str,
    revision: Revision | None = None, routes: Iterable[str] = (),
    blocking: Mapping[str, Sequence[BlockingCall]] | None = None, blocking_policy: str = "fail",
) -> dict[str, Any]:  # fmt: skip
    """The JSON-ready report of a run (redacted); ``blocking`` (case key -> calls) when the modern app's
    loop was watched, None when it was not."""
    by_route: dict[str, list[CaseResult]] = {r: [] for r in routes}
    for result in results:
        by_route.setdefault(result.case.route, []).append(result)
    report_routes = {}
    for route, route_results in sorted(by_route.items()):
        counts = _counts(route_results, blocking)
        green = counts["cases"] > 0 and counts["matched"] == counts["cases"]
        if blocking_policy == "fail" and counts.get("blocked"):
            green = False
        report_routes[route] = {
            "status": "green" if green else "red",
            **counts,
            "mismatches": [_entry(r, redactor) for r in route_results if r.outcome != "match"],
            "noise_paths": sorted({f"{r.case.id}: {d.path}" for r in route_results for d in r.noise}),
            "ignored": sorted({f"{d.path}: {d.reason}" for r in route_results for d in r.ignored}),
        }
        if blocking is not None:
            report_routes[route]["blocking"] = [
                redactor.value(entry)
                for r in route_results
                for entry in blocking_entries(r.case.key, blocking.get(r.case.key, ()))
            ]
    return {
        "format": FORMAT,
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "revision": (revision or current_revision() or Revision("unknown", True)).as_dict(),
        "mode": mode,
        "legacy": legacy,
        "modern": modern,
        "routes": report_routes,
        "blocking": {"checked": blocking is not None, "policy": blocking_policy},
        "totals": _counts(results, blocking),
    }


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the JSON report atomically (the gate may be reading the previous one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_junit(
    results: Sequence[CaseResult], redactor: Redactor, path: Path, render: Any,
    blocking: Mapping[str, Sequence[BlockingCall]] | None = None, blocking_policy: str = "fail",
) -> None:  # fmt: skip
    """JUnit XML: one test suite per route, one test case per parity case; ``render(result)`` -> text.

    A case that blocked the modern app's loop is a failure under ``blocking_policy = "fail"`` (its text
    says what blocked), and says so in its ``system-out`` under ``"warn"``."""
    from .render import render_blocking

    blocking = blocking or {}
    fails = blocking_policy == "fail"
    root = ET.Element("testsuites", name="cutover parity")
    by_route: dict[str, list[CaseResult]] = {}
    for result in results:
        by_route.setdefault(result.case.route, []).append(result)
    for route, route_results in sorted(by_route.items()):
        counts = _counts(route_results)
        blocked = sum(r.outcome == "match" and bool(blocking.get(r.case.key)) for r in route_results)
        suite = ET.SubElement(
            root, "testsuite", name=route, tests=str(counts["cases"]),
            failures=str(counts["mismatched"] + (blocked if fails else 0)), errors=str(counts["errors"]),
        )  # fmt: skip
        for result in route_results:
            elapsed = sum(o.elapsed for o in (result.legacy, result.modern) if o is not None)
            tc = ET.SubElement(suite, "testcase", classname=f"parity.{route}", name=result.case.id,
                               time=f"{elapsed:.3f}")  # fmt: skip
            if result.outcome == "mismatch":
                failure = ET.SubElement(tc, "failure", message=f"{len(result.mismatches)} difference(s)")
                failure.text = redactor.text(render(result))
            elif result.outcome == "error":
                error = ET.SubElement(tc, "error", message=redactor.text(result.error))
                error.text = redactor.text(result.error)
            calls = blocking.get(result.case.key)
            if calls:
                text = render_blocking(result.case, calls, redactor)
                if fails and result.outcome == "match":
                    ET.SubElement(tc, "failure", message="a blocking call on the event loop").text = text
                else:
                    ET.SubElement(tc, "system-out").text = text
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def merge_previous(report: dict[str, Any], path: Path, ran: Iterable[str]) -> None:
    """Keep the routes not run this time from the report at ``path``, if it was made from the same code.

    A ``--route`` run thus refreshes its routes and keeps the others; a report of another revision (or
    other uncommitted changes) is never carried forward.
    """
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(previous, dict) or previous.get("revision") != report["revision"]:
        return
    ran = set(ran)
    for route_id, entry in (previous.get("routes") or {}).items():
        current = report["routes"].get(route_id)
        if route_id not in ran and (current is None or current["cases"] == 0):
            report["routes"][route_id] = entry
    report["routes"] = dict(sorted(report["routes"].items()))
