"""The audit log: every move of a route, from the CLI, the dashboard or ``cutover promote``, appended with who
made it, when, from what to what, the gate's verdict and whether ``--force`` overrode it.

Refused and failed attempts are recorded too (outcome ``refused`` / ``failed``): a gate that said no is part
of the story. A usage error (an unknown route, a canary without a percentage) is no attempt and is not
recorded (``cutover.proxy.moves``). Nothing secret goes in: the actor is a user name (and, from the
dashboard, the client's address), never a token or a cookie. SQLite by default, PostgreSQL for a team
(``[audit] database``).
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from .errors import CutoverError, one_line
from .statedb import StoreNotFound, create_tables, open_engine, shown_url

_DDL_LOCK = 0x5AD0A0D1  # an arbitrary advisory lock key ("audit")
OUTCOMES = ("moved", "unchanged", "refused", "failed")

metadata = sa.MetaData()
moves = sa.Table(
    "cutover_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.Float, nullable=False),  # epoch seconds
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),  # cli | dashboard | promote
    sa.Column("route", sa.String(200), nullable=False),
    sa.Column("before", sa.String(40), nullable=False),  # "legacy", "canary 25%", "modern"
    sa.Column("after", sa.String(40), nullable=False),  # what the route is on now
    sa.Column("requested", sa.String(40), nullable=False),  # what was asked for
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("gate", sa.Text, nullable=False),  # the gate's verdict, or why it refused
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),  # why the move was made (a promotion's breach, say)
    sa.Index("ix_cutover_audit_route_time", "route", "time"),
)


@dataclass(frozen=True)
class AuditEntry:
    time: float
    actor: str
    source: str
    route: str
    before: str
    after: str
    requested: str
    outcome: str
    gate: str
    forced: bool
    reason: str | None = None
    id: int | None = None

    def line(self) -> str:
        """One line for a terminal or a log."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time))
        change = (
            f"{self.before} -> {self.after}"
            if self.outcome == "moved"
            else f"{self.before} (asked {self.requested})"
        )
        forced = ", --force" if self.forced else ""
        why = f"; {self.reason}" if self.reason else ""
        head = f"{when} {self.actor} via {self.source}: {self.route} {change}"
        return f"{head}: {self.outcome}{forced}; gate: {self.gate}{why}"


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        import os

        return f"uid {os.getuid()}"


class AuditLog:
    """Appends and reads audit entries; ``create=False`` reads an existing log only (else StoreNotFound)."""

    def __init__(self, url: str, *, create: bool = True, clock: Callable[[], float] = time.time) -> None:
        self._engine = open_engine(url, create=create, what="audit log")
        self._clock = clock
        try:
            if create:
                create_tables(self._engine, metadata, _DDL_LOCK)
            self._ready = create or sa.inspect(self._engine).has_table(moves.name)
        except BaseException:
            self._engine.dispose()
            raise

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    def record(
        self, *, actor: str, source: str, route: str, before: str, after: str, requested: str, outcome: str,
        gate: str, forced: bool, reason: str | None = None,
    ) -> AuditEntry:  # fmt: skip
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        entry = AuditEntry(self._clock(), actor, source, route, before, after, requested, outcome, gate,
                           forced, reason)  # fmt: skip
        values = {k: v for k, v in entry.__dict__.items() if k != "id"}
        with self._engine.begin() as conn:
            new_id = conn.execute(moves.insert().values(**values)).inserted_primary_key
        return AuditEntry(**{**values, "id": new_id[0] if new_id else None})

    def entries(self, *, route: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest ``limit`` entries (of ``route``, when given), newest first."""
        if not self._ready:
            return []
        query = sa.select(moves).order_by(moves.c.time.desc(), moves.c.id.desc()).limit(limit)
        if route is not None:
            query = query.where(moves.c.route == route)
        with self._engine.connect() as conn:
            return [AuditEntry(**row._mapping) for row in conn.execute(query)]


def open_audit(url: str) -> AuditLog:
    """The audit log at ``url``, made if missing, for recording; CutoverError (one line, password hidden)
    when it cannot be opened."""
    try:
        return AuditLog(url)
    except Exception as exc:  # noqa: BLE001 - any store failure is one line
        raise CutoverError(f"cannot open the audit log ({shown_url(url)}): {one_line(exc)}") from None


def read_entries(url: str, *, route: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """The latest entries (newest first), none where no log was made yet (nothing is created); CutoverError
    (one line, password hidden) when the log cannot be read."""
    try:
        with AuditLog(url, create=False) as log:
            return log.entries(route=route, limit=limit)
    except StoreNotFound:
        return []
    except Exception as exc:  # noqa: BLE001 - an unreachable database is one line
        raise CutoverError(f"cannot read the audit log ({shown_url(url)}): {one_line(exc)}") from None


__all__ = [
    "OUTCOMES",
    "AuditEntry",
    "AuditLog",
    "StoreNotFound",
    "current_user",
    "open_audit",
    "read_entries",
]
