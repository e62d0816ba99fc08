"""The shadow results store: counters per route and minute, and the latest differences with their values.

Why this shape:

- Counters, not a row per comparison: a route mirrored at a hundred requests a second would otherwise grow
  the store without bound. They are kept per route and minute (the field counts per route, field path and
  minute), so that a report over the last hour costs no more than one over everything.
- Values only for the last ``keep`` differences (and errors) of each route: enough examples to debug with,
  a bounded size, and as few response values at rest as will do. Older ones are deleted; their counts stay.
- Every text written is redacted here, whatever the caller did (defence in depth): the target's secret
  query parameters, values under secret-looking keys, every known secret string, credentials in errors.
- Increments are upserts (``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n``), so several
  comparators (one per front door) may write to one PostgreSQL store and their counts add up.

SQLite (one file, WAL mode, for one machine) and PostgreSQL (psycopg 3) through SQLAlchemy Core. The methods
block; they are safe to call from several threads.
"""

from __future__ import annotations

import json
import re
import time as _time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_plus

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..parity.redact import REDACTED, Redactor
from ..statedb import StoreNotFound, create_tables, engine_url, open_engine

__all__ = [
    "Comparison",
    "DifferingField",
    "ErrorExample",
    "Example",
    "FieldDifference",
    "FieldSummary",
    "RouteSummary",
    "ShadowStore",
    "StoreNotFound",
    "Thresholds",
    "engine_url",
    "redact_text",
]

_COUNTER = {"match": "matched", "different": "different", "noise": "noise", "error": "errors"}
_COUNTERS = ("mirrored", "matched", "different", "noise", "errors", "dropped")
BUCKET = 60  # seconds: the resolution of ``since``
EXAMPLES = 3  # example requests per differing field path in a summary
_MAX_VALUE = 4000  # characters of JSON per stored value: one huge body must not fill the store
_MAX_TARGET = 2000
_MAX_ERROR = 500
_RETRYABLE = {"40P01", "40001"}  # PostgreSQL: deadlock detected, serialization failure
_DDL_LOCK = 0x5AD0570E  # an arbitrary advisory lock key ("shadow store")


@dataclass(frozen=True)
class FieldDifference:
    """One field where the candidate differs from a primary that agreed with the secondary."""

    path: str  # a parity path: "body.results[3].username", "status", "headers.location"
    primary: Any  # JSON-able, already redacted by the caller
    candidate: Any


@dataclass(frozen=True)
class Comparison:
    """One mirrored request replayed as primary, secondary (both legacy) and candidate (modern)."""

    route: str
    method: str
    target: str  # path and query string
    time: float  # epoch seconds
    outcome: str  # "match" | "different" | "noise" | "error"
    differences: tuple[FieldDifference, ...] = ()  # the candidate-only differences, with values
    candidate_paths: tuple[str, ...] = ()  # every path where primary != candidate
    secondary_paths: tuple[str, ...] = ()  # every path where primary != secondary
    error: str | None = None  # one line, for outcome "error"


@dataclass(frozen=True)
class Thresholds:
    """When a field is a real difference rather than noise (Diffy's absolute and relative thresholds).

    The candidate must differ from the primary more often than the secondary does, by at least
    ``absolute`` (a rate over the comparisons) and by at least ``relative`` of the candidate's own rate.
    """

    absolute: float = 0.01
    relative: float = 0.2

    def reports(self, candidate: int, secondary: int, compared: int) -> bool:
        if compared <= 0 or candidate <= 0:
            return False
        # From the counts, not from rates subtracted: 3/100 - 2/100 is a hair under 0.01 in floats.
        excess = candidate - secondary
        return excess / compared >= self.absolute and excess / candidate >= self.relative


@dataclass(frozen=True)
class FieldSummary:
    """How often one field path differed: candidate from primary, and secondary from primary."""

    path: str
    candidate_count: int
    secondary_count: int
    candidate_rate: float  # over the route's compared requests
    secondary_rate: float
    reported: bool  # a real difference by the thresholds

    @property
    def noise(self) -> bool:
        """The legacy disagrees with itself here, and the candidate not clearly more often."""
        return self.secondary_count > 0 and not self.reported

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "candidate_count": self.candidate_count,
            "secondary_count": self.secondary_count,
            "candidate_rate": self.candidate_rate,
            "secondary_rate": self.secondary_rate,
            "reported": self.reported,
            "noise": self.noise,
        }


@dataclass(frozen=True)
class Example:
    """A kept request where a field differed, with both (redacted) values."""

    method: str
    target: str
    time: float
    primary: Any
    candidate: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "target": self.target,
            "time": self.time,
            "primary": self.primary,
            "candidate": self.candidate,
        }


@dataclass(frozen=True)
class ErrorExample:
    """A kept request whose comparison could not be made."""

    method: str
    target: str
    time: float
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "target": self.target, "time": self.time, "error": self.error}


@dataclass(frozen=True)
class DifferingField:
    """A reported field path, with its count and the latest kept examples."""

    path: str
    count: int
    rate: float
    examples: tuple[Example, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "count": self.count,
            "rate": self.rate,
            "examples": [e.as_dict() for e in self.examples],
        }


@dataclass(frozen=True)
class RouteSummary:
    """What the shadow comparisons of one route found, over the period asked for."""

    route: str
    mirrored: int  # copies the front door sent
    matched: int
    different: int
    noise: int  # comparisons whose only differences were noise
    errors: int
    dropped: int  # copies dropped unread (the queue was full)
    fields: tuple[FieldSummary, ...] = ()  # most often different first
    differing: tuple[DifferingField, ...] = ()  # the reported fields, most often different first
    recent_errors: tuple[ErrorExample, ...] = ()  # the latest first
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def compared(self) -> int:
        return self.matched + self.different + self.noise

    @property
    def has_differences(self) -> bool:
        return any(f.reported for f in self.fields)

    @property
    def noise_fields(self) -> tuple[FieldSummary, ...]:
        return tuple(f for f in self.fields if f.noise)

    @property
    def rare_fields(self) -> tuple[FieldSummary, ...]:
        """Fields the candidate differed at, too rarely to report, where the legacy never did."""
        return tuple(f for f in self.fields if not f.reported and not f.noise)

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "mirrored": self.mirrored,
            "compared": self.compared,
            "matched": self.matched,
            "different": self.different,
            "noise": self.noise,
            "errors": self.errors,
            "dropped": self.dropped,
            "has_differences": self.has_differences,
            "thresholds": {"absolute": self.thresholds.absolute, "relative": self.thresholds.relative},
            "fields": [f.as_dict() for f in self.fields],
            "differing": [d.as_dict() for d in self.differing],
            "recent_errors": [e.as_dict() for e in self.recent_errors],
        }


# -- the schema -----------------------------------------------------------------------------------------

metadata = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=False, server_default="0")


route_counts = sa.Table(
    "shadow_route_counts",
    metadata,
    sa.Column("route", sa.Text, primary_key=True),
    sa.Column("minute", sa.BigInteger, primary_key=True),  # epoch seconds at the start of the minute
    *(_counter(name) for name in _COUNTERS),
)
field_counts = sa.Table(
    "shadow_field_counts",
    metadata,
    sa.Column("route", sa.Text, primary_key=True),
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("minute", sa.BigInteger, primary_key=True),
    _counter("candidate"),
    _counter("secondary"),
)
kept = sa.Table(
    "shadow_kept",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),  # different | error
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("error", sa.Text),
    sa.Index("shadow_kept_by_route", "route", "outcome", "id"),
)
kept_values = sa.Table(
    "shadow_kept_values",
    metadata,
    sa.Column("kept_id", _ID, primary_key=True),
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("route", sa.Text, nullable=False),  # repeated from shadow_kept: examples by an index range
    sa.Column("primary_value", sa.Text, nullable=False),  # JSON
    sa.Column("candidate_value", sa.Text, nullable=False),
    sa.Index("shadow_kept_values_by_path", "route", "path", "kept_id"),
)


# -- redaction ------------------------------------------------------------------------------------------

_SECRET_WORDS = frozenset({
    "token", "key", "apikey", "password", "passwd", "pwd", "secret", "session", "sessionid", "csrf",
    "csrftoken", "signature", "sig", "credential", "credentials", "auth", "authorization", "cookie", "jwt",
    "otp",
})  # fmt: skip
_NO_KNOWN_SECRETS = Redactor()
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def _looks_secret(name: str) -> bool:
    """A query parameter or JSON key whose value is a secret by its name: ``access_token``, ``api_key``,
    ``sessionid``, ``X-CSRFToken``, ``csrfmiddlewaretoken``, ``new_password``, ``clientSecret``."""
    lower = name.lower()
    if lower.endswith(("token", "secret", "password", "sessionid")):
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORD.findall(name))


# ``name=value`` (a query string, a form, a log line) and ``"name": "value"`` (JSON) inside any text.
_PAIRS = (
    re.compile(r"(?P<name>[\w%.-]+)(?P<sep>=)(?P<value>[^&\s;,\"']+)"),
    re.compile(r"\"(?P<name>[^\"]+)(?P<sep>\"\s*:\s*\")(?P<value>[^\"]+)"),
)


def redact_text(text: str, redactor: Redactor | None = None) -> str:
    """``text`` with the values of secret-looking ``name=value`` pairs masked, and known secrets anywhere.

    Everything else is left byte for byte as it came (a target is not re-encoded: it can still be replayed).
    """
    for pattern in _PAIRS:
        text = pattern.sub(_masked_pair, text)
    return (redactor or _NO_KNOWN_SECRETS).text(text)


def _masked_pair(match: re.Match[str]) -> str:
    if not _looks_secret(unquote_plus(match["name"])):
        return match[0]
    return match[0][: match.start("value") - match.start()] + REDACTED


def _masked(value: Any) -> Any:
    """``value`` with whatever sits under a secret-looking key masked, and secret pairs in its strings."""
    if isinstance(value, dict):
        return {
            k: REDACTED if _looks_secret(str(k)) and v not in (None, "") else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _path_keys(path: str) -> list[str]:
    return [k for k in re.split(r"[.\[\]]", path) if k and not k.isdigit()]


# -- the store ------------------------------------------------------------------------------------------


def _minute(when: float) -> int:
    return int(when // BUCKET) * BUCKET


class ShadowStore:
    """Where the comparator's results go and where reports, the dashboard and the gate read them.

    ``keep`` differences (and errors) per route keep their values; ``secrets`` are known secret strings
    (test tokens, say) scrubbed from everything written. ``create=False`` opens an existing store for
    reading only: a missing SQLite file raises :class:`StoreNotFound`, missing tables read as empty, and
    nothing is created. ``clock`` stamps ``mirrored`` and ``dropped`` (comparisons carry their own time).
    """

    def __init__(
        self,
        url: str,
        *,
        keep: int = 100,
        secrets: Iterable[str] = (),
        create: bool = True,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.keep = keep
        self._redactor = Redactor(secrets)
        self._clock = clock
        parsed = engine_url(url, "a shadow store")
        self.url = parsed.render_as_string(hide_password=True)
        self._engine = open_engine(url, create=create, what="shadow store")
        if parsed.get_backend_name() == "postgresql":
            self._insert: Callable[[sa.Table], Any] = postgresql.insert
        else:
            self._insert = sqlite.insert
        try:
            if create:
                self._create_tables()
            self._ready = create or sa.inspect(self._engine).has_table(kept_values.name)
        except BaseException:
            self._engine.dispose()
            raise

    def _create_tables(self) -> None:
        create_tables(self._engine, metadata, _DDL_LOCK)

    def __enter__(self) -> ShadowStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    # -- writing ----------------------------------------------------------------------------------------

    def record(self, comparison: Comparison) -> None:
        """Count one comparison; keep its values if it found a difference (or its error, if it failed)."""
        counter = _COUNTER.get(comparison.outcome)
        if counter is None:
            raise ValueError(f"unknown outcome {comparison.outcome!r}: one of {', '.join(_COUNTER)}")
        minute = _minute(comparison.time)

        def work(conn: sa.Connection) -> None:
            # The route's counter row first, in every transaction: writers of one route and minute queue
            # on it, which also keeps their field rows and their trimming from interleaving.
            self._count(conn, comparison.route, minute, {counter: 1})
            if comparison.outcome != "error":
                self._count_fields(conn, comparison, minute)
            if comparison.outcome in ("different", "error"):
                self._keep(conn, comparison)

        self._write(work)

    def mirrored(self, route: str, count: int = 1) -> None:
        """Count copies received from the front door."""
        self._add(route, "mirrored", count)

    def dropped(self, route: str, count: int = 1) -> None:
        """Count copies dropped before comparison (the queue was full)."""
        self._add(route, "dropped", count)

    def _add(self, route: str, counter: str, count: int) -> None:
        if count < 0:
            raise ValueError(f"a count of {counter} copies cannot be negative, got {count}")
        if count:
            minute = _minute(self._clock())
            self._write(lambda conn: self._count(conn, route, minute, {counter: count}))

    def _write(self, work: Callable[[sa.Connection], None]) -> None:
        # Two comparators writing one PostgreSQL store can deadlock on each other's rows now and then;
        # PostgreSQL aborts one of them, whose transaction then simply runs again.
        for attempt in range(3):
            try:
                with self._engine.begin() as conn:
                    work(conn)
                return
            except sa.exc.DBAPIError as exc:
                if attempt == 2 or getattr(exc.orig, "sqlstate", None) not in _RETRYABLE:
                    raise

    def _count(self, conn: sa.Connection, route: str, minute: int, counts: Mapping[str, int]) -> None:
        stmt = self._insert(route_counts).values(route=route, minute=minute, **counts)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["route", "minute"],
                set_={name: route_counts.c[name] + stmt.excluded[name] for name in counts},
            )
        )

    def _count_fields(self, conn: sa.Connection, comparison: Comparison, minute: int) -> None:
        candidate = {self._redactor.text(p) for p in comparison.candidate_paths}
        secondary = {self._redactor.text(p) for p in comparison.secondary_paths}
        rows = [
            {
                "route": comparison.route,
                "path": path,
                "minute": minute,
                "candidate": int(path in candidate),
                "secondary": int(path in secondary),
            }
            for path in sorted(candidate | secondary)  # one order for every writer: no lock-order deadlock
        ]
        if rows:
            stmt = self._insert(field_counts)
            stmt = stmt.on_conflict_do_update(
                index_elements=["route", "path", "minute"],
                set_={
                    "candidate": field_counts.c.candidate + stmt.excluded.candidate,
                    "secondary": field_counts.c.secondary + stmt.excluded.secondary,
                },
            )
            conn.execute(stmt, rows)

    def _keep(self, conn: sa.Connection, comparison: Comparison) -> None:
        error = None
        if comparison.outcome == "error":
            error = _clipped(
                redact_text(" ".join((comparison.error or "").split()), self._redactor), _MAX_ERROR
            )
        kept_id = conn.execute(
            kept.insert()
            .returning(kept.c.id)
            .values(
                route=comparison.route,
                outcome=comparison.outcome,
                method=comparison.method,
                target=_clipped(redact_text(comparison.target, self._redactor), _MAX_TARGET),
                time=comparison.time,
                error=error,
            )
        ).scalar_one()
        values: dict[str, dict[str, Any]] = {}
        for diff in comparison.differences:
            path = self._redactor.text(diff.path)
            values.setdefault(
                path,
                {
                    "kept_id": kept_id,
                    "path": path,
                    "route": comparison.route,
                    "primary_value": self._stored(diff.path, diff.primary),
                    "candidate_value": self._stored(diff.path, diff.candidate),
                },
            )
        if values:
            conn.execute(kept_values.insert(), list(values.values()))
        self._trim(conn, comparison.route, comparison.outcome)

    def _stored(self, path: str, value: Any) -> str:
        if any(_looks_secret(key) for key in _path_keys(path)) and value not in (None, ""):
            value = REDACTED
        text = json.dumps(self._redactor.value(_masked(value)), ensure_ascii=False, default=str)
        if len(text) > _MAX_VALUE:
            text = json.dumps(f"{text[:_MAX_VALUE]}... ({len(text)} characters of JSON, clipped)")
        return text

    def _trim(self, conn: sa.Connection, route: str, outcome: str) -> None:
        # The newest ``keep`` stay; the (keep+1)th newest and everything older go.
        oldest_gone = conn.execute(
            sa.select(kept.c.id)
            .where(kept.c.route == route, kept.c.outcome == outcome)
            .order_by(kept.c.id.desc())
            .offset(self.keep)
            .limit(1)
        ).scalar()
        if oldest_gone is None:
            return
        gone = sa.select(kept.c.id).where(
            kept.c.route == route, kept.c.outcome == outcome, kept.c.id <= oldest_gone
        )
        conn.execute(
            sa.delete(kept_values).where(kept_values.c.route == route, kept_values.c.kept_id.in_(gone))
        )
        conn.execute(
            sa.delete(kept).where(kept.c.route == route, kept.c.outcome == outcome, kept.c.id <= oldest_gone)
        )

    # -- reading ----------------------------------------------------------------------------------------

    def summary(
        self, *, route: str | None = None, since: float | None = None, thresholds: Thresholds = Thresholds()
    ) -> list[RouteSummary]:
        """Per route (sorted by name), what was recorded since ``since`` (epoch seconds; None: ever).

        Counters are kept per minute, so ``since`` counts the whole minute it falls in."""
        if not self._ready:
            return []
        start = None if since is None else _minute(since)
        with self._engine.connect() as conn:
            fields = _field_totals(conn, route, start)
            out = []
            for name, counts in _totals(conn, route, start).items():
                summary = _route_summary(name, counts, fields.get(name, {}), thresholds)
                differing = tuple(
                    DifferingField(
                        f.path, f.candidate_count, f.candidate_rate, _examples(conn, name, f.path, start)
                    )
                    for f in summary.fields  # most often different first already
                    if f.reported
                )
                errors = _errors(conn, name, start) if summary.errors else ()
                out.append(replace(summary, differing=differing, recent_errors=errors))
        return out


def _clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _totals(conn: sa.Connection, route: str | None, start: int | None) -> dict[str, dict[str, int]]:
    names = _COUNTERS
    query = sa.select(route_counts.c.route, *(sa.func.sum(route_counts.c[n]).label(n) for n in names))
    if route is not None:
        query = query.where(route_counts.c.route == route)
    if start is not None:
        query = query.where(route_counts.c.minute >= start)
    rows = conn.execute(query.group_by(route_counts.c.route).order_by(route_counts.c.route))
    return {row.route: {n: int(getattr(row, n)) for n in names} for row in rows}


def _field_totals(
    conn: sa.Connection, route: str | None, start: int | None
) -> dict[str, dict[str, tuple[int, int]]]:
    c = field_counts.c
    query = sa.select(
        c.route, c.path, sa.func.sum(c.candidate).label("cand"), sa.func.sum(c.secondary).label("sec")
    )
    if route is not None:
        query = query.where(c.route == route)
    if start is not None:
        query = query.where(c.minute >= start)
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for row in conn.execute(query.group_by(c.route, c.path)):
        out.setdefault(row.route, {})[row.path] = (int(row.cand), int(row.sec))
    return out


def _route_summary(
    route: str, counts: dict[str, int], fields: dict[str, tuple[int, int]], thresholds: Thresholds
) -> RouteSummary:
    compared = counts["matched"] + counts["different"] + counts["noise"]
    summaries = [
        FieldSummary(
            path=path,
            candidate_count=cand,
            secondary_count=sec,
            candidate_rate=cand / compared if compared else 0.0,
            secondary_rate=sec / compared if compared else 0.0,
            reported=thresholds.reports(cand, sec, compared),
        )
        for path, (cand, sec) in fields.items()
    ]
    summaries.sort(key=lambda f: (-f.candidate_count, -f.secondary_count, f.path))
    return RouteSummary(
        route=route,
        mirrored=counts["mirrored"],
        matched=counts["matched"],
        different=counts["different"],
        noise=counts["noise"],
        errors=counts["errors"],
        dropped=counts["dropped"],
        fields=tuple(summaries),
        thresholds=thresholds,
    )


def _examples(conn: sa.Connection, route: str, path: str, start: int | None) -> tuple[Example, ...]:
    v, k = kept_values.c, kept.c
    query = (
        sa.select(k.method, k.target, k.time, v.primary_value, v.candidate_value)
        .join_from(kept_values, kept, k.id == v.kept_id)
        .where(v.route == route, v.path == path)
    )
    if start is not None:
        query = query.where(k.time >= start)
    rows = conn.execute(query.order_by(v.kept_id.desc()).limit(EXAMPLES))
    return tuple(
        Example(r.method, r.target, r.time, json.loads(r.primary_value), json.loads(r.candidate_value))
        for r in rows
    )


def _errors(conn: sa.Connection, route: str, start: int | None) -> tuple[ErrorExample, ...]:
    k = kept.c
    query = sa.select(k.method, k.target, k.time, k.error).where(k.route == route, k.outcome == "error")
    if start is not None:
        query = query.where(k.time >= start)
    rows = conn.execute(query.order_by(k.id.desc()).limit(EXAMPLES))
    return tuple(ErrorExample(r.method, r.target, r.time, r.error or "") for r in rows)
