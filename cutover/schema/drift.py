"""Drift check: the SQLAlchemy mapping against a live, migrated database.

Django owns the schema, so drift means the port's SQLAlchemy mapping (whatever metadata the project's
config names) no longer describes what Django's migrations built, or someone altered the database by
hand. Only the tables the mapping names are compared: the rest of the database is Django's business.
Alembic's autogenerate comparison does the work; nothing here writes to the database.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine

from cutover.dburl import DatabaseURL

__all__ = ["Difference", "check_drift", "metadata_of"]


@dataclass(frozen=True)
class Difference:
    kind: str  # alembic's operation name: add_column, remove_index, modify_type, ...
    table: str
    detail: str

    def __str__(self) -> str:
        # Alembic names operations from the mapping's side: add_x means "the database lacks x".
        if self.kind.startswith("add_"):
            where = "mapped but missing from the database"
        elif self.kind.startswith("remove_"):
            where = "in the database but not mapped"
        else:
            where = "differs"
        thing = self.kind.split("_", 1)[1]
        return f"{self.table}: {thing} {self.detail} {where}".replace("  ", " ")


def _include_object(mapped: set[str]):
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return name in mapped
        if type_ == "foreign_key_constraint" and reflected:
            # Keys to tables we do not map (auth_group, django_content_type) are Django's business.
            return obj.referred_table.name in mapped
        return True

    return include


def _describe(op: tuple[Any, ...]) -> Difference:
    kind = op[0]
    if kind in ("add_column", "remove_column"):
        _, _schema, table, column = op
        return Difference(kind, table, f"{column.name} {column.type}")
    if kind.startswith("modify_"):
        _, _schema, table, column, _info, old, new = op
        return Difference(kind, table, f"{column}: database {old!r}, mapping {new!r}")
    if kind in ("add_fk", "remove_fk"):
        fk = op[1]
        return Difference(
            kind, fk.table.name if fk.table is not None else "?", f"{_fk_name(fk)} ({_fk_shape(fk)})"
        )
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        obj = op[1]
        table = obj.table.name if obj.table is not None else "?"
        columns = ", ".join(str(c) for c in getattr(obj, "expressions", None) or obj.columns)
        return Difference(kind, table, f"{obj.name} ({columns})")
    if kind in ("add_table", "remove_table"):
        return Difference(kind, op[1].name, "")
    return Difference(kind, "?", repr(op[1:]))


def _fk_name(fk: Any) -> str:
    return str(fk.name) if fk.name else "(unnamed)"


def _fk_shape(fk: Any) -> str:
    """``user_id -> users.id``: the key's columns and what they reference."""
    columns = (
        ", ".join(str(getattr(c, "name", c)) for c in fk.columns) if fk.columns else ", ".join(fk.column_keys)
    )
    targets = ", ".join(e.target_fullname for e in fk.elements)
    return f"{columns} -> {targets}"


def _fk_options(fk: Any) -> str:
    """What SQL says of the key beyond its columns: deferrability and referential actions."""
    parts = ["DEFERRABLE" if fk.deferrable else "NOT DEFERRABLE"]
    if fk.deferrable:
        parts.append(f"INITIALLY {(fk.initially or 'IMMEDIATE').upper()}")
    parts += [f"ON DELETE {fk.ondelete.upper()}"] if fk.ondelete else []
    parts += [f"ON UPDATE {fk.onupdate.upper()}"] if fk.onupdate else []
    return " ".join(parts)


def _paired_fks(ops: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[Difference]]:
    """A key the database has and the mapping has too, but with other options or another name, comes out
    of Alembic as a removal and an addition of the same columns: one difference, saying what differs."""

    def key(fk: Any) -> tuple[str, str]:
        return (fk.table.name if fk.table is not None else "?", _fk_shape(fk))

    removed = {key(op[1]): op for op in ops if op[0] == "remove_fk"}
    rest: list[tuple[Any, ...]] = []
    paired: list[Difference] = []
    for op in ops:
        if op[0] == "add_fk" and key(op[1]) in removed:
            mapped, found = op[1], removed.pop(key(op[1]))[1]
            what = []
            if _fk_options(found) != _fk_options(mapped):
                what.append(f"database {_fk_options(found)}, mapping {_fk_options(mapped)}")
            if mapped.name and found.name != mapped.name:
                what.append(f"named {found.name} in the database, {mapped.name} in the mapping")
            detail = f"{_fk_name(found)} ({_fk_shape(found)}): {'; '.join(what) or 'options'}"
            paired.append(Difference("modify_fk", key(found)[0], detail))
        elif op[0] != "remove_fk":
            rest.append(op)
    rest += [op for op in ops if op[0] == "remove_fk" and key(op[1]) in removed]
    return rest, paired


def _flatten(diffs: Iterable[Any]) -> Iterable[tuple[Any, ...]]:
    for diff in diffs:
        if isinstance(diff, list):  # column modifications come grouped per column
            yield from diff
        else:
            yield diff


def metadata_of(mapping: Any) -> MetaData:
    """The MetaData of a declarative base (``Base``) or a ``MetaData`` itself; TypeError for anything else."""
    metadata = mapping if isinstance(mapping, MetaData) else getattr(mapping, "metadata", None)
    if not isinstance(metadata, MetaData):
        raise TypeError(f"{mapping!r} is neither a SQLAlchemy declarative base nor a MetaData")
    return metadata


def check_drift(url: DatabaseURL, metadata: MetaData) -> list[Difference]:
    """Every difference between ``metadata`` and the database at ``url``; empty when they agree."""
    engine = create_engine(url.sqlalchemy_sync())
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            # Alembic warns that it cannot compare expression indexes in detail; we compare them by name.
            warnings.simplefilter("ignore")
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": False,
                    "include_object": _include_object(set(metadata.tables)),
                },
            )
            diffs = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    rest, paired = _paired_fks(list(_flatten(diffs)))
    return [*(_describe(op) for op in rest), *paired]
