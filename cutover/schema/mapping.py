"""What ``cutover schema map`` knows about each table: Django's models and the migrated database, together.

Two sources, each for what only it knows exactly:

- **Django's model metadata** (``_meta``, with the project's settings set up in this process): which tables
  the project has and which model owns each (many-to-many tables included), the column types as Django's
  PostgreSQL backend declares them (``field.db_type``), and what Django does in Python that the database
  never sees: defaults, ``auto_now``/``auto_now_add``, choices, the ``''`` it stores for an empty
  ``blank=True`` text field.
- **The migrated database** (SQLAlchemy's inspector): the names Django's schema editor gave primary keys,
  unique constraints, indexes (functional ones included), check constraints and foreign keys, each foreign
  key's ``ON DELETE`` and deferrability as the database holds them (Django emulates ``on_delete`` in
  Python, so it is usually ``NO ACTION``), identities, server defaults (``db_default``) and comments.

Where the two disagree (a model field without a column, a column no field has, a type or nullability that
differs: a migration not applied, or written but not in the code) the answer is a list of findings, not a
mapping: guessing which side is right is the team's call. Nothing here writes to the database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    Uuid,
    create_engine,
    inspect,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from ..dburl import DatabaseURL
from ..errors import CutoverError

__all__ = [
    "Check",
    "ColumnMap",
    "ForeignKeyMap",
    "IndexMap",
    "MapFinding",
    "TableMap",
    "UniqueMap",
    "UnknownTable",
    "known_tables",
    "model_tables",
    "read_tables",
]


class UnknownTable(CutoverError):
    """A table asked for that no model of the project has: one line naming it."""


@dataclass(frozen=True)
class ForeignKeyMap:
    name: str | None
    target: str  # "table.column"
    ondelete: str | None
    onupdate: str | None
    deferrable: bool | None
    initially: str | None


@dataclass(frozen=True)
class ColumnMap:
    name: str
    type: TypeEngine[Any]
    python: str  # the Mapped[] annotation's type: "int", "datetime", "Decimal", "Any", ...
    nullable: bool
    primary_key: bool = False
    identity: dict[str, Any] | None = None  # reflected: always, start, ...
    server_default: str | None = None
    computed: dict[str, Any] | None = None  # reflected: sqltext, persisted
    comment: str | None = None  # the database's column comment (Django's db_comment)
    foreign_key: ForeignKeyMap | None = None
    notes: tuple[str, ...] = ()  # what Django does in Python: the port must do it too


@dataclass(frozen=True)
class UniqueMap:
    name: str
    columns: tuple[str, ...]
    nulls_not_distinct: bool = False


@dataclass(frozen=True)
class IndexMap:
    name: str
    elements: tuple[tuple[str, bool], ...]  # (column name, False) or (SQL expression, True)
    unique: bool = False
    ops: tuple[tuple[str, str], ...] = ()  # postgresql_ops: column -> operator class
    where: str | None = None
    using: str | None = None  # only when not btree
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    name: str
    sqltext: str


@dataclass(frozen=True)
class TableMap:
    name: str
    model: str  # "app_label.ObjectName"
    class_name: str  # the model's object name (auto-created many-to-many tables: none are classes)
    auto_created: bool  # a many-to-many table Django made: mapped as a Table, not a class
    columns: tuple[ColumnMap, ...]
    uniques: tuple[UniqueMap, ...] = ()
    indexes: tuple[IndexMap, ...] = ()
    checks: tuple[Check, ...] = ()
    comment: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MapFinding:
    """Where the database and the models disagree (exit 1, nothing written)."""

    table: str
    detail: str

    def __str__(self) -> str:
        return f"{self.table}: {self.detail}"


@dataclass
class _Reflected:
    columns: dict[str, dict[str, Any]]
    pk: tuple[str, ...]
    fks: dict[str, dict[str, Any]]  # by its single constrained column
    uniques: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    comment: str | None
    extra_fks: list[dict[str, Any]] = field(default_factory=list)  # composite keys


# Django's PostgreSQL column types (``connection.data_types`` after interpolation) as SQLAlchemy types.
_SIMPLE: dict[str, TypeEngine[Any]] = {
    "text": Text(),
    "integer": Integer(),
    "bigint": BigInteger(),
    "smallint": SmallInteger(),
    "serial": Integer(),
    "bigserial": BigInteger(),
    "smallserial": SmallInteger(),
    "boolean": Boolean(),
    "timestamp with time zone": DateTime(timezone=True),
    "timestamp": DateTime(),
    "date": Date(),
    "time": Time(),
    "interval": Interval(),
    "double precision": Double(),
    "real": postgresql.REAL(),
    "uuid": Uuid(),
    "jsonb": postgresql.JSONB(),
    "json": postgresql.JSON(),
    "bytea": LargeBinary(),
    "inet": postgresql.INET(),
    "cidr": postgresql.CIDR(),
    "citext": postgresql.CITEXT(),
}
_SIZED = re.compile(r"(varchar|char|numeric)\((\d+)(?:,\s*(\d+))?\)")
_ARRAY = re.compile(r"(.+)\[\d*\]")


def django_type(db_type: str) -> TypeEngine[Any] | None:
    """The SQLAlchemy type of a Django column type on PostgreSQL; None when it is not one we know."""
    db_type = db_type.strip().lower()
    if db_type in _SIMPLE:
        return _SIMPLE[db_type]
    array = _ARRAY.fullmatch(db_type)
    if array is not None:  # django.contrib.postgres's ArrayField
        item = django_type(array.group(1))
        return postgresql.ARRAY(item) if item is not None else None
    sized = _SIZED.fullmatch(db_type)
    if sized is None:
        return None
    kind, first, second = sized.group(1), int(sized.group(2)), sized.group(3)
    if kind == "varchar":
        return String(first)
    if kind == "char":
        return CHAR(first)
    return Numeric(first, int(second) if second is not None else None)


def _python(type_: TypeEngine[Any]) -> str:
    if isinstance(type_, postgresql.JSON | postgresql.JSONB):
        return "Any"  # a JSON document: a dict, a list, a string, a number, ...
    try:
        python = type_.python_type
    except NotImplementedError:
        return "Any"
    if python.__module__ == "builtins":
        return python.__name__
    return {"datetime": python.__name__, "decimal": "Decimal", "uuid": "uuid.UUID"}.get(
        python.__module__, "Any"
    )


def _compiled(type_: TypeEngine[Any]) -> str:
    return type_.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]


def model_tables() -> dict[str, Any]:
    """Every table of a concrete, managed model of the installed apps, by name: its model class."""
    from django.apps import apps

    found: dict[str, Any] = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or meta.swapped or not meta.managed:
            continue
        found.setdefault(meta.db_table, model)
    return found


def _reflect(inspector: Any, table: str) -> _Reflected:
    columns = {c["name"]: c for c in inspector.get_columns(table)}
    fks: dict[str, dict[str, Any]] = {}
    extra: list[dict[str, Any]] = []
    for fk in inspector.get_foreign_keys(table):
        if len(fk["constrained_columns"]) == 1:
            fks[fk["constrained_columns"][0]] = fk
        else:
            extra.append(fk)
    return _Reflected(
        columns=columns,
        pk=tuple(inspector.get_pk_constraint(table).get("constrained_columns") or ()),
        fks=fks,
        uniques=inspector.get_unique_constraints(table),
        indexes=[i for i in inspector.get_indexes(table) if "duplicates_constraint" not in i],
        checks=inspector.get_check_constraints(table),
        comment=(inspector.get_table_comment(table) or {}).get("text"),
        extra_fks=extra,
    )


def _callable_name(value: Any) -> str:
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    return f"{module}.{name}()" if module and name else repr(value)


def _choices(choices: Sequence[Any]) -> str:
    values: list[str] = []
    for value, label in choices:
        if isinstance(label, list | tuple):  # grouped choices
            values.extend(repr(v) for v, _ in label)
        else:
            values.append(repr(value))
    shown = ", ".join(values[:8]) + (", ..." if len(values) > 8 else "")
    return f"choices {shown}: Django validates them, the database takes any value of the type"


def _notes(model_field: Any, server_default: str | None) -> tuple[str, ...]:
    """What Django does for this column in Python that the database does not know."""
    notes: list[str] = []
    if getattr(model_field, "auto_now", False):
        notes.append("Django sets it to the current time on every save (auto_now); the database does not")
    elif getattr(model_field, "auto_now_add", False):
        notes.append("Django sets it to the current time on insert (auto_now_add); the database does not")
    elif model_field.has_default() and server_default is None:
        default = model_field.default
        shown = _callable_name(default) if callable(default) else repr(default)
        notes.append(f"Django's default is {shown}, applied in Python: the database has no default")
    elif (
        getattr(model_field, "blank", False)
        and model_field.empty_strings_allowed
        and not model_field.null
        and server_default is None
        and not model_field.primary_key
    ):
        notes.append(
            "Django stores '' when no value is given (blank=True, never NULL): the database has no default"
        )
    if model_field.choices:
        notes.append(_choices(model_field.choices))
    return tuple(notes)


def _column(
    table: str, model_field: Any, reflected: dict[str, Any], fk: dict[str, Any] | None, connection: Any
) -> tuple[ColumnMap | None, list[MapFinding]]:
    findings: list[MapFinding] = []
    db_type = model_field.db_type(connection)
    declared = django_type(db_type) if db_type else None
    actual = reflected["type"]
    if declared is not None and _compiled(declared) != _compiled(actual):
        findings.append(
            MapFinding(
                table,
                f"column {model_field.column} is {_compiled(actual)} in the database,"
                f" the model says {_compiled(declared)}",
            )
        )
    nullable = bool(reflected["nullable"])
    if not model_field.primary_key and bool(model_field.null) != nullable:
        findings.append(
            MapFinding(
                table,
                f"column {model_field.column} is {'NULL' if nullable else 'NOT NULL'} in the database,"
                f" the model says {'null=True' if model_field.null else 'null=False'}",
            )
        )
    if findings:
        return None, findings
    type_ = declared if declared is not None else actual  # a type Django's backend leaves to a third party
    default = reflected.get("default")
    if reflected.get("identity") or (default and str(default).startswith("nextval(")):
        default = None
    foreign_key = None
    if fk is not None:
        options = fk.get("options") or {}
        foreign_key = ForeignKeyMap(
            name=fk.get("name"),
            target=f"{fk['referred_table']}.{fk['referred_columns'][0]}",
            ondelete=options.get("ondelete"),
            onupdate=options.get("onupdate"),
            deferrable=options.get("deferrable"),
            initially=options.get("initially"),
        )
    return (
        ColumnMap(
            name=model_field.column,
            type=type_,
            python=_python(type_),
            nullable=nullable,
            identity=reflected.get("identity"),
            server_default=default,
            computed=reflected.get("computed"),
            comment=reflected.get("comment"),
            foreign_key=foreign_key,
            notes=_notes(model_field, default),
        ),
        [],
    )


def _index(raw: dict[str, Any], columns: set[str]) -> IndexMap:
    expressions = raw.get("expressions") or raw["column_names"]
    sorting = raw.get("column_sorting") or {}
    elements: list[tuple[str, bool]] = []
    for element in expressions:
        if element in columns and element not in sorting:
            elements.append((element, False))
        elif element in columns:
            elements.append((" ".join([f'"{element}"', *(s.upper() for s in sorting[element])]), True))
        else:
            elements.append((element, True))
    options = raw.get("dialect_options") or {}
    using = options.get("postgresql_using")
    return IndexMap(
        name=raw["name"],
        elements=tuple(elements),
        unique=bool(raw.get("unique")),
        ops=tuple(sorted((options.get("postgresql_ops") or {}).items())),
        where=options.get("postgresql_where"),
        using=using if using and using != "btree" else None,
        include=tuple(options.get("postgresql_include") or ()),
    )


def _table(
    name: str, model: Any, inspector: Any, connection: Any
) -> tuple[TableMap | None, list[MapFinding]]:
    meta = model._meta
    label = f"{meta.app_label}.{meta.object_name}"
    reflected = _reflect(inspector, name)
    fields = [f for f in meta.local_concrete_fields if f.column is not None]
    by_column = {f.column: f for f in fields}
    findings = [
        MapFinding(
            name, f"column {f.column} of {label}.{f.name} is not in the database (a migration not applied?)"
        )
        for f in fields
        if f.column not in reflected.columns
    ]
    findings += [
        MapFinding(
            name,
            f"column {c} is in the database but no field of {label} has it (a migration not in the code?)",
        )
        for c in reflected.columns
        if c not in by_column
    ]
    columns: list[ColumnMap] = []
    pk = set(reflected.pk)
    for model_field in fields:
        if model_field.column not in reflected.columns:
            continue
        column, wrong = _column(
            name,
            model_field,
            reflected.columns[model_field.column],
            reflected.fks.get(model_field.column),
            connection,
        )
        findings += wrong
        if column is not None:
            columns.append(column if column.name not in pk else _with_pk(column))
    if findings:
        return None, findings
    names = set(reflected.columns)
    return (
        TableMap(
            name=name,
            model=label,
            class_name=meta.object_name,
            auto_created=bool(meta.auto_created),
            columns=tuple(columns),
            uniques=tuple(
                UniqueMap(
                    u["name"],
                    tuple(u["column_names"]),
                    bool((u.get("dialect_options") or {}).get("postgresql_nulls_not_distinct")),
                )
                for u in sorted(reflected.uniques, key=lambda u: u["name"])
            ),
            indexes=tuple(_index(i, names) for i in sorted(reflected.indexes, key=lambda i: i["name"])),
            checks=tuple(
                Check(c["name"], c["sqltext"]) for c in sorted(reflected.checks, key=lambda c: c["name"])
            ),
            comment=reflected.comment,
            notes=tuple(
                f"foreign key {fk['name']} ({', '.join(fk['constrained_columns'])}) is composite: not mapped"
                for fk in reflected.extra_fks
            ),
        ),
        [],
    )


def _with_pk(column: ColumnMap) -> ColumnMap:
    from dataclasses import replace

    return replace(column, primary_key=True, nullable=False)


def known_tables(names: Sequence[str], *, origin: str) -> dict[str, Any]:
    """The model of each of ``names``; UnknownTable for the first no model has."""
    models = model_tables()
    for name in names:
        if name not in models:
            raise UnknownTable(
                f"unknown table {name!r} {origin}: no model of the project's installed apps has it"
            )
    return {name: models[name] for name in names}


def read_tables(
    url: DatabaseURL, names: Sequence[str], *, origin: str
) -> tuple[list[TableMap], list[MapFinding]]:
    """The mapping of ``names`` (Django set up in this process) read from the models and the database at
    ``url``; or, when they disagree, the findings. ``origin`` says in errors where the names came from."""
    from django.db import connection

    if connection.vendor != "postgresql":
        raise CutoverError(
            "cutover schema map maps PostgreSQL tables; the project's default database is"
            f" {connection.vendor}"
        )
    models = known_tables(names, origin=origin)
    engine = create_engine(url.sqlalchemy_sync())
    tables: list[TableMap] = []
    findings: list[MapFinding] = []
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            present = set(inspector.get_table_names())
            for name in names:
                meta = models[name]._meta
                if name not in present:
                    findings.append(
                        MapFinding(
                            name,
                            f"table of {meta.app_label}.{meta.object_name} is not in the database"
                            " (a migration not applied?)",
                        )
                    )
                    continue
                table, wrong = _table(name, models[name], inspector, connection)
                findings += wrong
                if table is not None:
                    tables.append(table)
    finally:
        engine.dispose()
    return tables, findings
