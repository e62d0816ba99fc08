"""One shadow comparison: a copy of a client's request, answered by the legacy twice and the port once.

The comparison is the parity engine's, not a second one: each answer is normalised by
``parity.capture.observe_response`` (links to the front door's origin, timestamps near "now", header
sets), the two legacy answers give the noise (``parity.compare.diff_paths``, as a parity case run twice
does), and ``parity.compare.differences`` classifies what the port answered differently, with the
project's written parity rules applied (a rule with a case glob applies to shadow copies when the glob
matches ``shadow``).

The order is primary (legacy), candidate (modern), secondary (legacy): the port's call sits between the
two legacy calls, so data that changed while the copy was being compared (a write that landed in
between) makes the two legacy answers differ too, and is noise, not a port bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..parity.capture import observe_response
from ..parity.cases import Case
from ..parity.compare import Rule, diff_paths, differences
from ..parity.redact import Redactor
from ..parity.targets import Response
from .store import Comparison, FieldDifference

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROUTE_HEADER = "x-cutover-shadow-route"
SHADOW_CASE = "shadow"  # the case id rules see for a shadow copy
# Never forwarded to the apps: hop-by-hop headers (RFC 9110 7.6.1), the body's length (copies have no
# body), and the front door's note of the route.
_NOT_FORWARDED = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
    "content-length", ROUTE_HEADER,
})  # fmt: skip


@dataclass(frozen=True)
class Copy:
    """A request the front door copied: what the client sent (no body: only safe methods are copied)."""

    route: str
    method: str
    target: str  # path with the query string, as the client sent it
    headers: tuple[tuple[str, str], ...]
    received: float  # epoch seconds

    @property
    def forwarded(self) -> tuple[tuple[str, str], ...]:
        """The client's headers as the apps get them from the front door."""
        return tuple((k, v) for k, v in self.headers if k.lower() not in _NOT_FORWARDED)

    @property
    def origin(self) -> str:
        """The front door's origin the client used: what links in both answers point at."""
        headers = {k.lower(): v for k, v in self.headers}
        host = headers.get("x-forwarded-host") or headers.get("host", "")
        scheme = headers.get("x-forwarded-proto", "http")
        return f"{scheme}://{host}" if host else ""

    def secrets(self) -> set[str]:
        """The credentials this copy carries (whole header values, their token part, cookie values)."""
        found: set[str] = set()
        for name, value in self.headers:
            lower = name.lower()
            if lower in ("authorization", "proxy-authorization", "x-csrftoken", "x-api-key"):
                found.add(value)
                found.update(part for part in value.split() if len(part) >= 6)
            elif lower == "cookie":
                for pair in value.split(";"):
                    found.add(pair.partition("=")[2].strip())
        return {s for s in found if s}

    def case(self) -> Case:
        parts = urlsplit(self.target)
        return Case(id=SHADOW_CASE, route=self.route, method=self.method, path=parts.path or "/")


def compare(
    copy: Copy,
    primary: Response,
    candidate: Response,
    secondary: Response,
    *,
    rules: Sequence[Rule] = (),
    redactor: Redactor | None = None,
) -> Comparison:
    """The comparison of the three answers to ``copy``, its values redacted."""
    case = copy.case()
    observed = [observe_response(case, copy.origin, r) for r in (primary, candidate, secondary)]
    first, modern, second = observed
    noise = [d.path for d in diff_paths(first, second)]
    found = differences(case, first, modern, noise=noise, rules=rules)
    redact = redactor or Redactor(copy.secrets())
    mismatches = tuple(
        FieldDifference(d.path, redact.value(d.legacy), redact.value(d.modern))
        for d in found
        if d.kind == "mismatch"
    )
    candidate_paths = tuple(d.path for d in found if d.kind != "ignored")
    if mismatches:
        outcome = "different"
    elif candidate_paths:  # the port differed only where the legacy differs from itself
        outcome = "noise"
    else:
        outcome = "match"
    return Comparison(
        route=copy.route,
        method=copy.method,
        target=redact.text(copy.target),
        time=copy.received,
        outcome=outcome,
        differences=mismatches,
        candidate_paths=candidate_paths,
        secondary_paths=tuple(noise),
    )


def failed(copy: Copy, stage: str, exc: BaseException, redactor: Redactor | None = None) -> Comparison:
    """A comparison that could not be made (an app unreachable, a timeout): an error, never a difference."""
    redact = redactor or Redactor(copy.secrets())
    reason = f"{stage}: {type(exc).__name__}: {exc}".splitlines()[0][:300]
    return Comparison(
        route=copy.route,
        method=copy.method,
        target=redact.text(copy.target),
        time=copy.received,
        outcome="error",
        error=redact.text(reason),
    )


__all__ = ["ROUTE_HEADER", "SAFE_METHODS", "Copy", "compare", "failed"]
