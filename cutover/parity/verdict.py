"""Is route R green for the code checked out now? The one answer, for the gate, `cutover routes` and reports.

A parity report (``cutover parity --report``, format 1, written by :mod:`cutover.parity.report`) records
per route how its cases went, and the code revision it was made from: the commit, whether the work tree
had uncommitted changes, and a digest of them. A route may move toward modern only when

1. the report shows every case of the route matched (at least one case) and, unless the project's
   ``[parity] blocking`` (recorded in the report) is ``"warn"``, that none made a blocking call on the
   modern app's event loop (a ``"warn"`` report's blocking calls are the verdict's ``warnings``),
2. the report was made from a clean work tree, and
3. the work tree is clean now, at the same commit.

Uncommitted changes are never vouched for, not even the very changes a report was made from: what moves
to production is a commit, and a report of a dirty tree cannot name the code it tested.

What the toolkit itself writes is not code, and never makes the tree dirty nor the report stale: a
routing manifest whose only changes are routes' modes and shares (what ``cutover move``, ``rollback`` and
``promote`` write; anything else in it, a path, a method, a backend, counts), anything under a
``.cutover/`` folder (the parity report, the audit log), and untracked files under a ``.data/`` folder
(``cutover up``'s clusters and nginx prefix). So a promotion's own steps, and the commit that records a
move, leave the route green. This module reads nothing but the report, git and manifests, so the gate
works without the parity engine's dependencies.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Literal

__all__ = ["FORMAT", "Revision", "Verdict", "current_revision", "same_code", "verdict"]

FORMAT = 1
Status = Literal["green", "red", "missing"]
GREEN_REASON = "every case matched on this revision"


@dataclass(frozen=True)
class Revision:
    """The code a report was made from: the commit, and a digest of uncommitted changes if any."""

    commit: str
    dirty: bool
    tree: str = ""

    def __str__(self) -> str:
        return self.commit[:12] + ("-dirty" if self.dirty else "")

    def as_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty, "tree": self.tree}

    @classmethod
    def from_dict(cls, data: Any) -> Revision:
        if not isinstance(data, dict):
            return cls("unknown", True, "")
        return cls(
            str(data.get("commit", "unknown")), bool(data.get("dirty", True)), str(data.get("tree", ""))
        )


def _git(repo: Path | None, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True).stdout


def _names(output: bytes) -> list[str]:
    return [n.decode(errors="surrogateescape") for n in output.split(b"\0") if n]


def _under(path: str, folder: str) -> bool:
    return folder in PurePosixPath(path).parts[:-1]


def _moves_only(old: bytes | None, new: bytes | None) -> bool:
    """Whether two versions of a file are one routing manifest differing at most in routes' modes and
    shares (an unparseable or non-manifest file is code, as is one that appeared or went away)."""
    if old is None or new is None:
        return False
    from ..errors import CutoverError
    from ..proxy.live import structure
    from ..proxy.manifest import parse_manifest

    try:
        return structure(parse_manifest(old.decode())) == structure(parse_manifest(new.decode()))
    except (CutoverError, UnicodeDecodeError, ValueError, TypeError, KeyError):
        return False


def _blob(repo: Path | None, commit: str, path: str) -> bytes | None:
    try:
        return _git(repo, "show", f"{commit}:{path}")
    except subprocess.CalledProcessError:
        return None


def _toolkit_change(path: str, old: Callable[[], bytes | None], new: Callable[[], bytes | None]) -> bool:
    """A tracked path whose change the toolkit made, not the team's code (see the module docstring);
    ``old`` and ``new`` read the two versions, only for a TOML file."""
    return _under(path, ".cutover") or (path.endswith(".toml") and _moves_only(old(), new()))


def current_revision(repo: Path | None = None) -> Revision | None:
    """``git rev-parse HEAD``, whether the work tree differs from it, and a digest of the difference.

    The digest covers tracked changes (``git diff HEAD``) and untracked, not ignored files, leaving out
    what the toolkit writes (the module docstring). None when ``repo`` (default: the current directory) is
    not a git work tree.
    """
    try:
        commit = _git(repo, "rev-parse", "HEAD").decode().strip()
        root = Path(_git(repo, "rev-parse", "--show-toplevel").decode().strip())
        # Paths relative to the top level, whatever folder of the work tree ``repo`` is.
        changed = _names(_git(root, "diff", "HEAD", "--name-only", "--no-renames", "-z"))
        untracked = _names(_git(root, "ls-files", "--others", "--exclude-standard", "-z"))
    except (OSError, subprocess.CalledProcessError):
        return None

    def now(path: str) -> bytes | None:
        try:
            return (root / path).read_bytes()
        except OSError:
            return None

    changed = [n for n in changed if not _toolkit_change(n, partial(_blob, root, commit, n), partial(now, n))]
    untracked = [n for n in untracked if not (_under(n, ".cutover") or _under(n, ".data"))]
    if not changed and not untracked:
        return Revision(commit, False, "")
    digest = hashlib.sha256(_git(root, "diff", "HEAD", "--binary", "--", *changed) if changed else b"")
    for name in sorted(untracked):
        digest.update(name.encode(errors="surrogateescape") + b"\0")
        try:
            digest.update(hashlib.sha256((root / name).read_bytes()).digest())
        except OSError:
            pass
    return Revision(commit, True, digest.hexdigest())


def same_code(made_from: str, now: str, repo: Path | None = None) -> bool:
    """Whether two commits hold the same code: every path changed between them is one the toolkit writes
    (the commit of a move: the manifest's mode lines). False when either commit is unknown here."""
    if made_from == now:
        return True
    try:
        root = Path(_git(repo, "rev-parse", "--show-toplevel").decode().strip())
        changed = _names(_git(root, "diff", "--name-only", "--no-renames", "-z", made_from, now, "--"))
    except (OSError, subprocess.CalledProcessError):
        return False
    return all(
        _toolkit_change(n, partial(_blob, root, made_from, n), partial(_blob, root, now, n)) for n in changed
    )


@dataclass(frozen=True)
class Verdict:
    """What the latest report says about one route, judged against the code checked out now.

    ``status`` is the report's own word on the route's cases, whatever revision it was made from
    (``missing``: no report, or no case of the route in it). ``green`` is True only when the route may
    move toward modern now; ``reason`` says why not (or that every case matched on this revision).
    """

    route: str
    status: Status
    reason: str
    revision: Revision | None = None
    generated_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    current: bool = False  # the report was made from the code checked out now (clean, same commit)
    warnings: tuple[str, ...] = ()  # what does not stop the route (blocking calls, with blocking = "warn")

    @property
    def passed(self) -> bool:
        return self.status == "green"

    @property
    def green(self) -> bool:
        return self.passed and self.current

    def short(self) -> str:
        """``green @ 0123456789ab``, ``red @ ...-dirty``, ``no result``: a table cell."""
        if self.status == "missing" or self.revision is None:
            return "no result"
        return f"{self.status} @ {self.revision}"


def read_report(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The report at ``path`` and "", or None and why it cannot be used."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no parity report at {path}"
    except (OSError, ValueError) as exc:
        return None, f"cannot read the parity report {path}: {exc}"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None, f"the parity report {path} is in an unknown format"
    return data, ""


def _blocking(entry: dict[str, Any], route_id: str, blocked: int) -> str:
    """What the report says blocked the route's event loop ("" when nothing did)."""
    found = [b for b in entry.get("blocking") or () if isinstance(b, dict)]
    if not found and not blocked:
        return ""
    first = found[0] if found else {}
    where = f" at {first['frame']}" if first.get("frame") else ""
    return (
        f"{blocked or len({b.get('case') for b in found})} case(s) made a blocking call on the event loop "
        f"(first: {first.get('function', '?')}{where})"
    )


def verdict(
    report: Path, route_id: str, *, repo: Path | None = None, revision: Revision | None = None
) -> Verdict:
    """The verdict on ``route_id`` from the report at ``report`` for the work tree at ``repo``.

    ``revision`` stands for the code checked out now (default: :func:`current_revision` of ``repo``).
    Never raises for a missing or unreadable report: that is a ``missing`` verdict with its reason.
    """
    data, problem = read_report(report)
    if data is None:
        return Verdict(route_id, "missing", problem)
    made_from = Revision.from_dict(data.get("revision"))
    generated_at = data.get("generated_at")
    entry = (data.get("routes") or {}).get(route_id)
    counts = (
        {k: int(entry.get(k, 0)) for k in ("cases", "matched", "mismatched", "errors", "noise", "blocked")
         if k != "blocked" or k in entry}  # a report made without the blocking check has no "blocked"
        if isinstance(entry, dict)
        else {}
    )  # fmt: skip
    if not counts.get("cases"):  # not run (`cutover parity --route other`), or a route without cases
        return Verdict(route_id, "missing", f"the parity report has no cases for {route_id}")
    assert isinstance(entry, dict)
    blocking = _blocking(entry, route_id, counts.get("blocked", 0))
    fails = (data.get("blocking") or {}).get("policy", "fail") != "warn"
    passed = (
        entry.get("status") == "green" and counts["matched"] == counts["cases"] and not (fails and blocking)
    )
    warnings = (blocking,) if blocking and not fails else ()

    def judged(status: Status, reason: str, current: bool = False) -> Verdict:
        return Verdict(route_id, status, reason, made_from, generated_at, counts, current, warnings)

    if not passed:
        detail = (
            f"{counts['mismatched']} mismatched and {counts['errors']} failed of {counts['cases']} case(s)"
        )
        if blocking and counts["matched"] == counts["cases"]:
            return judged("red", f"the latest parity report shows {route_id!r} red: {blocking}")
        if blocking:
            detail += f"; {blocking}"
        return judged("red", f"the latest parity report shows {route_id!r} red ({detail})")
    now = revision if revision is not None else current_revision(repo)
    where = repo if repo is not None else Path.cwd()
    if now is None:
        reason = f"{where} is not a git work tree, so the code revision is unknown"
    elif made_from.commit == "unknown":
        reason = "the parity report does not say which revision it was made from (made outside git?)"
    elif made_from.dirty:
        reason = "the parity report was made from a work tree with uncommitted changes"
    elif now.dirty:
        reason = (
            f"the work tree has uncommitted changes (HEAD {now.commit[:12]}): parity cannot vouch for them"
        )
    elif made_from.commit != now.commit and not same_code(made_from.commit, now.commit, repo):
        reason = (
            f"the parity report is for revision {made_from.commit[:12]}, the code is at {now.commit[:12]}"
        )
    else:
        return judged("green", GREEN_REASON, current=True)
    return judged("green", reason)
