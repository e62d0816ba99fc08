"""Compare two observations deeply and in order; excuse only noise and written rules.

Paths name a place in an observation: ``status``, ``headers.location``, ``body.results[3].username``,
``rows.orders.121.row.created``. A rule pattern is such a path where ``*`` matches one key or index
and ``**`` anything (``body.results[*].last_login``, ``body.**``).

Rules live in a TOML file next to the cases; each must say why::

    [[rules]]
    route = "orders"                # or "*"
    case = "*"                      # a glob on case ids (optional)
    path = "body.text"
    reason = "Django's HTML 404 page for an unknown URL is not reproduced; status and type are."
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff

from .cases import Case, CaseError

__all__ = ["Difference", "Rule", "diff_paths", "differences", "load_rules"]

_MISSING = "<absent>"


@dataclass(frozen=True)
class Rule:
    """An excused difference: where, on which route and cases, and the written reason."""

    route: str
    path: str
    reason: str
    case: str = "*"

    def applies(self, case: Case, path: str) -> bool:
        return (
            self.route in ("*", case.route)
            and fnmatch.fnmatchcase(case.id, self.case)
            and _pattern(self.path).fullmatch(path) is not None
        )


@dataclass(frozen=True)
class Difference:
    """One place where two observations differ, with both values (``<absent>`` when one lacks it)."""

    path: str
    legacy: Any
    modern: Any
    kind: str = "mismatch"  # mismatch | noise | ignored
    reason: str = ""

    def as_dict(self, redactor: Any = None) -> dict[str, Any]:
        """The difference as data; with a redactor, values under a secret key on the path are masked."""
        legacy, modern = self.legacy, self.modern
        if redactor is not None:
            legacy, modern = redactor.at(self.path, legacy), redactor.at(self.path, modern)
        out = {"path": self.path, "legacy": legacy, "modern": modern}
        if self.reason:
            out["reason"] = self.reason
        return out


def _pattern(glob: str) -> re.Pattern[str]:
    return _compiled(glob)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(glob: str) -> re.Pattern[str]:
    if glob not in _CACHE:
        out = []
        i = 0
        while i < len(glob):
            if glob.startswith("**", i):
                out.append(".*")
                i += 2
            elif glob[i] == "*":
                out.append(r"[^.\[\]]*")
                i += 1
            else:
                out.append(re.escape(glob[i]))
                i += 1
        _CACHE[glob] = re.compile("".join(out))
    return _CACHE[glob]


def load_rules(path: Path | None) -> list[Rule]:
    """The rules of a TOML file (none when ``path`` is None or absent); each must carry a reason."""
    if path is None or not path.exists():
        return []
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CaseError(f"{path}: {exc}") from exc
    rules = []
    for n, entry in enumerate(doc.get("rules", []), 1):
        unknown = set(entry) - {"route", "case", "path", "reason"}
        if unknown:
            raise CaseError(f"{path} rule {n}: unknown key(s) {', '.join(sorted(unknown))}")
        reason = str(entry.get("reason", "")).strip()
        if not reason:
            raise CaseError(f"{path} rule {n}: every rule needs a written reason")
        if not entry.get("route") or not entry.get("path"):
            raise CaseError(f"{path} rule {n}: route and path are required")
        rules.append(Rule(str(entry["route"]), str(entry["path"]), reason, str(entry.get("case", "*"))))
    return rules


def _render(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = str(part)
            out += ("." if out else "") + key
    return out


# Values that are sets (capture.py keeps them sorted): a difference is the whole value, not an element by
# its index in two lists of different lengths ("allow[3]: OPTIONS / <absent>" where the port's [3] is PATCH).
_WHOLE = (("headers", "allow"), ("headers", "vary"))


def _set_valued(a: Any, b: Any) -> tuple[Any, Any, list[Difference]]:
    """``a`` and ``b`` without their set-valued parts, and those parts' differences, each whole."""
    found: list[Difference] = []
    for outer, key in _WHOLE:
        left, right = (x.get(outer) if isinstance(x, dict) else None for x in (a, b))
        if not isinstance(left, dict) and not isinstance(right, dict):
            continue
        lv, rv = (x.get(key, _MISSING) if isinstance(x, dict) else _MISSING for x in (left, right))
        if lv == rv:
            continue
        found.append(Difference(f"{outer}.{key}", lv, rv))
        a = _without(a, outer, key)
        b = _without(b, outer, key)
    return a, b, found


def _without(value: Any, outer: str, key: str) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get(outer), dict):
        return value
    return {**value, outer: {k: v for k, v in value[outer].items() if k != key}}


def diff_paths(a: Any, b: Any) -> list[Difference]:
    """Every difference between ``a`` and ``b``: deep, order-sensitive, types included; a set-valued header
    (``Allow``, ``Vary``) as one difference of its whole value."""
    a, b, found = _set_valued(a, b)
    if _identical(a, b):
        return found
    diff = DeepDiff(a, b, ignore_order=False, verbose_level=2, view="tree")
    for kind in diff:
        for item in diff[kind]:
            path = _render(item.path(output_format="list"))
            left = item.t1 if not _is_notpresent(item.t1) else _MISSING
            right = item.t2 if not _is_notpresent(item.t2) else _MISSING
            found.append(Difference(path, left, right))
    return sorted(found, key=lambda d: d.path)


_PLAIN = (str, int, float, bool, bytes, type(None))


def _identical(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same without asking DeepDiff, which takes 1.5 ms for a case's two
    observations and finds nothing in most cases: the same types all the way down, dicts with the same
    keys, lists and tuples alike in order, equal plain values, any other value (a datetime, a Decimal)
    equal with the same repr (an aware datetime's zone, a Decimal's exponent). Stricter than DeepDiff:
    False only means "ask it"."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_identical(value, b[key]) for key, value in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(_identical, a, b))
    if isinstance(a, _PLAIN):
        return bool(a == b)
    return bool(a == b) and repr(a) == repr(b)


def _is_notpresent(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


def _covered(path: str, by: Iterable[str]) -> bool:
    # A path is covered by another when it is the same place or inside it, or contains it.
    for other in by:
        if path == other or path.startswith(other + ".") or path.startswith(other + "["):
            return True
        if other.startswith(path + ".") or other.startswith(path + "["):
            return True
    return False


def differences(
    case: Case, legacy: dict[str, Any], modern: dict[str, Any], *, noise: Sequence[str] = (),
    rules: Sequence[Rule] = (),
) -> list[Difference]:  # fmt: skip
    """Classify every difference between the two observations: noise, ignored (by a rule), or mismatch."""
    out = []
    for d in diff_paths(legacy, modern):
        if _covered(d.path, noise):
            out.append(
                Difference(d.path, d.legacy, d.modern, "noise", "differs between two runs of the legacy")
            )
            continue
        rule = next((r for r in rules if r.applies(case, d.path)), None)
        if rule is not None:
            out.append(Difference(d.path, d.legacy, d.modern, "ignored", rule.reason))
        else:
            out.append(d)
    return out
