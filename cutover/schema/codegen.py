"""The SQLAlchemy 2 declarative module of a list of :class:`~cutover.schema.mapping.TableMap`: pure text.

The text is laid out as ruff's formatter (and black) lays it out at the given line length, so the module
is format-clean as written: a call on one line when it fits, else its arguments on one indented line when
they fit, else one per line with a trailing comma (which the formatter then keeps exploded). Strings are
double-quoted unless that needs more escapes, imports sorted as ruff's isort sorts them.
"""

from __future__ import annotations

import json
import keyword
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CHAR, DateTime, Numeric, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from .mapping import ColumnMap, IndexMap, TableMap

__all__ = ["render_module"]

_INDENT = 4


# --- layout ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """``head(args)``; ``head`` may be empty (a parenthesised tuple) or ``[`` for a list."""

    head: str
    args: tuple[_Node, ...]
    close: str = ")"
    single_comma: bool = False  # a one-element tuple: ``(x,)``

    def flat(self) -> str:
        inner = ", ".join(_flat(a) for a in self.args)
        if self.single_comma and len(self.args) == 1:
            inner += ","
        return f"{self.head}{inner}{self.close}"


_Node = str | _Call


def _flat(node: _Node) -> str:
    return node if isinstance(node, str) else node.flat()


def _kw(name: str, value: _Node) -> _Node:
    return (
        f"{name}={value}"
        if isinstance(value, str)
        else _Call(f"{name}={value.head}", value.args, value.close)
    )


def _lay(node: _Node, indent: int, width: int, prefix: str = "", suffix: str = "") -> list[str]:
    pad = " " * indent
    one = f"{pad}{prefix}{_flat(node)}{suffix}"
    if len(one) <= width or isinstance(node, str) or not node.args:
        return [one]
    head = f"{pad}{prefix}{node.head}"
    tail = f"{pad}{node.close}{suffix}"
    inner_pad = " " * (indent + _INDENT)
    body = ", ".join(_flat(a) for a in node.args)
    if not (node.single_comma and len(node.args) == 1) and len(inner_pad) + len(body) <= width:
        return [head, inner_pad + body, tail]
    if len(node.args) == 1 and not node.single_comma:
        # One argument that does not fit: split it in turn (no trailing comma, as the formatter does).
        return [head, *_lay(node.args[0], indent + _INDENT, width), tail]
    lines = [head]
    for arg in node.args:
        lines += _lay(arg, indent + _INDENT, width, suffix=",")
    return [*lines, tail]


def _string(text: str) -> str:
    """A string literal as ruff's formatter writes it: double quotes unless they need more escapes."""
    if text.count('"') > text.count("'"):
        body = json.dumps(text, ensure_ascii=False)[1:-1].replace('\\"', '"').replace("'", "\\'")
        return f"'{body}'"
    return json.dumps(text, ensure_ascii=False)


def _comment(text: str, indent: int, width: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}# {line}" for line in textwrap.wrap(text, max(width - indent - 2, 40))]


# --- names -----------------------------------------------------------------------------------------------


_RESERVED_ATTRIBUTES = {"metadata", "registry", "__table__", "__tablename__", "__mapper__", "__table_args__"}


def _attribute(column: str) -> str:
    name = re.sub(r"\W", "_", column)
    if not name or name[0].isdigit():
        name = f"c_{name}"
    if keyword.iskeyword(name) or name in _RESERVED_ATTRIBUTES:
        name += "_"
    return name


def _variable(table: str) -> str:
    name = re.sub(r"\W", "_", table)
    return f"t_{name}" if not name or name[0].isdigit() or keyword.iskeyword(name) else name


# --- the module ------------------------------------------------------------------------------------------


@dataclass
class _Imports:
    names: dict[str, set[str]] = field(default_factory=dict)  # module -> names
    modules: set[str] = field(default_factory=set)  # ``import x``

    def use(self, module: str, name: str) -> str:
        self.names.setdefault(module, set()).add(name)
        return name

    def lines(self, width: int) -> list[str]:
        def order(name: str) -> tuple[int, str]:
            # ruff's isort (order-by-type): CONSTANTS, then Classes, then functions and variables.
            kind = 0 if name.isupper() and len(name) > 1 else 1 if name[0].isupper() else 2
            return kind, name

        stdlib = [f"import {m}" for m in sorted(self.modules)]
        third: list[str] = []
        for module in sorted(self.names):
            names = sorted(self.names[module], key=order)
            one = f"from {module} import {', '.join(names)}"
            if len(one) > width:  # isort's parenthesised form, one name a line
                one = "\n".join([f"from {module} import (", *(f"    {n}," for n in names), ")"])
            (third if module.split(".")[0] == "sqlalchemy" else stdlib).append(one)
        out = ["from __future__ import annotations"]
        for section in (stdlib, third):
            if section:
                out += ["", *section]
        return out


_PYTHON_IMPORTS = {
    "datetime": ("datetime", "datetime"),
    "date": ("datetime", "date"),
    "time": ("datetime", "time"),
    "timedelta": ("datetime", "timedelta"),
    "Decimal": ("decimal", "Decimal"),
    "Any": ("typing", "Any"),
}


class _Writer:
    def __init__(self, tables: Sequence[TableMap], width: int) -> None:
        self.tables = tables
        self.width = width
        self.imports = _Imports()
        self.mapped = {t.name for t in tables}

    # types and column arguments

    def type_(self, type_: TypeEngine[Any]) -> _Node:
        if isinstance(type_, postgresql.ARRAY):
            return _Call(
                f"{self.imports.use('sqlalchemy.dialects.postgresql', 'ARRAY')}(",
                (self.type_(type_.item_type),),
            )
        cls = type(type_)
        if cls.__module__.startswith("sqlalchemy.dialects.postgresql"):
            name = self.imports.use("sqlalchemy.dialects.postgresql", cls.__name__)
        else:
            name = self.imports.use("sqlalchemy", cls.__name__)
        if isinstance(type_, String | CHAR) and type(type_) in (String, CHAR) and type_.length is not None:
            return f"{name}({type_.length})"
        if isinstance(type_, DateTime) and type_.timezone:
            return f"{name}(timezone=True)"
        if type(type_) is Numeric:
            args = [str(a) for a in (type_.precision, type_.scale) if a is not None]
            return f"{name}({', '.join(args)})" if args else name
        if isinstance(type_, postgresql.JSON) or repr(type_) == f"{cls.__name__}()":
            return name
        # A type of a third-party field the database reported: as SQLAlchemy writes it.
        text = repr(type_)
        for used in set(re.findall(r"\b([A-Z][A-Za-z_]*)\(", text)):
            module = "sqlalchemy.dialects.postgresql" if hasattr(postgresql, used) else "sqlalchemy"
            self.imports.use(module, used)
        return text

    def text(self, sql: str) -> str:
        return f"{self.imports.use('sqlalchemy', 'text')}({_string(sql)})"

    def foreign_key(self, column: ColumnMap) -> _Node | None:
        fk = column.foreign_key
        if fk is None or fk.target.split(".")[0] not in self.mapped:
            return None
        args: list[_Node] = [_string(fk.target)]
        if fk.name:
            args.append(_kw("name", _string(fk.name)))
        for option in ("ondelete", "onupdate"):
            value = getattr(fk, option)
            if value:
                args.append(_kw(option, _string(value)))
        if fk.deferrable is not None:
            args.append(_kw("deferrable", str(fk.deferrable)))
        if fk.initially:
            args.append(_kw("initially", _string(fk.initially)))
        return _Call(f"{self.imports.use('sqlalchemy', 'ForeignKey')}(", tuple(args))

    def column_args(self, column: ColumnMap, *, explicit_null: bool) -> list[_Node]:
        args: list[_Node] = [self.type_(column.type)]
        fk = self.foreign_key(column)
        if fk is not None:
            args.append(fk)
        if column.identity is not None:
            identity = [f"always={bool(column.identity.get('always'))}"]
            for option in ("start", "increment"):
                if column.identity.get(option) not in (None, 1):
                    identity.append(f"{option}={column.identity[option]}")
            args.append(_Call(f"{self.imports.use('sqlalchemy', 'Identity')}(", tuple(identity)))
        if column.computed is not None:
            computed: list[_Node] = [_string(str(column.computed["sqltext"]))]
            if column.computed.get("persisted") is not None:
                computed.append(f"persisted={bool(column.computed['persisted'])}")
            args.append(_Call(f"{self.imports.use('sqlalchemy', 'Computed')}(", tuple(computed)))
        if column.primary_key:
            args.append("primary_key=True")
        elif explicit_null:
            args.append(f"nullable={column.nullable}")
        if column.server_default is not None:
            args.append(_kw("server_default", self.text(column.server_default)))
        if column.comment is not None:
            args.append(_kw("comment", _string(column.comment)))
        return args

    def column_notes(self, column: ColumnMap) -> list[str]:
        notes = list(column.notes)
        fk = column.foreign_key
        if fk is not None and fk.target.split(".")[0] not in self.mapped:
            notes.append(f"references {fk.target} ({fk.name}), a table not mapped here: no ForeignKey")
        return notes

    def annotation(self, column: ColumnMap) -> str:
        python = column.python
        if python == "uuid.UUID":
            self.imports.modules.add("uuid")
        elif python in _PYTHON_IMPORTS:
            self.imports.use(*_PYTHON_IMPORTS[python])
        if column.nullable and not column.primary_key and python != "Any":
            python += " | None"
        return f"{self.imports.use('sqlalchemy.orm', 'Mapped')}[{python}]"

    # table-level items

    def index(self, index: IndexMap) -> _Node:
        args: list[_Node] = [_string(index.name)]
        args += [self.text(e) if is_expression else _string(e) for e, is_expression in index.elements]
        if index.unique:
            args.append("unique=True")
        if index.ops:
            ops = ", ".join(f"{_string(c)}: {_string(o)}" for c, o in index.ops)
            args.append(f"postgresql_ops={{{ops}}}")
        if index.where:
            args.append(_kw("postgresql_where", self.text(index.where)))
        if index.using:
            args.append(_kw("postgresql_using", _string(index.using)))
        if index.include:
            args.append(_kw("postgresql_include", _Call("[", tuple(_string(c) for c in index.include), "]")))
        return _Call(f"{self.imports.use('sqlalchemy', 'Index')}(", tuple(args))

    def table_items(self, table: TableMap) -> list[_Node]:
        items: list[_Node] = []
        for unique in table.uniques:
            args: list[_Node] = [*(_string(c) for c in unique.columns), _kw("name", _string(unique.name))]
            if unique.nulls_not_distinct:
                args.append("postgresql_nulls_not_distinct=True")
            items.append(_Call(f"{self.imports.use('sqlalchemy', 'UniqueConstraint')}(", tuple(args)))
        for check in table.checks:
            items.append(
                _Call(
                    f"{self.imports.use('sqlalchemy', 'CheckConstraint')}(",
                    (_string(check.sqltext), _kw("name", _string(check.name))),
                )
            )
        items += [self.index(i) for i in table.indexes]
        return items

    # classes and tables

    def model_class(self, table: TableMap, class_name: str) -> list[str]:
        lines = [f"class {class_name}(Base):", f'    """``{table.model}``."""', ""]
        for note in table.notes:
            lines += _comment(note, _INDENT, self.width)
        lines.append(f"    __tablename__ = {_string(table.name)}")
        items = self.table_items(table)
        if table.comment is not None:
            items.append(f"{{{_string('comment')}: {_string(table.comment)}}}")
        if items:
            lines += _lay(
                _Call("(", tuple(items), single_comma=True), _INDENT, self.width, "__table_args__ = "
            )
        lines.append("")
        mapped_column = self.imports.use("sqlalchemy.orm", "mapped_column")
        for column in table.columns:
            attribute = _attribute(column.name)
            args = self.column_args(column, explicit_null=column.python == "Any")
            if attribute != column.name:
                args.insert(0, _string(column.name))
            for note in self.column_notes(column):
                lines += _comment(note, _INDENT, self.width)
            lines += _lay(
                _Call(f"{mapped_column}(", tuple(args)),
                _INDENT,
                self.width,
                f"{attribute}: {self.annotation(column)} = ",
            )
        return lines

    def plain_table(self, table: TableMap, variable: str) -> list[str]:
        lines = _comment(
            f"The many-to-many table Django made ({table.model}): rows Django's ORM writes and deletes.",
            0,
            self.width,
        )
        for note in table.notes:
            lines += _comment(note, 0, self.width)
        column_class = self.imports.use("sqlalchemy", "Column")
        args: list[_Node] = [_string(table.name), "Base.metadata"]
        for column in table.columns:
            column_args = [_string(column.name), *self.column_args(column, explicit_null=True)]
            args.append(_Call(f"{column_class}(", tuple(column_args)))
            # Notes of a Table's columns go above the table (a call's arguments take no comments cleanly).
            for note in self.column_notes(column):
                lines += _comment(f"{column.name}: {note}", 0, self.width)
        args += self.table_items(table)
        if table.comment is not None:
            args.append(_kw("comment", _string(table.comment)))
        lines += _lay(
            _Call(f"{self.imports.use('sqlalchemy', 'Table')}(", tuple(args)), 0, self.width, f"{variable} = "
        )
        return lines

    def module(self, docstring: str) -> str:
        self.imports.use("sqlalchemy.orm", "DeclarativeBase")
        blocks: list[list[str]] = []
        exported: list[str] = ["Base"]
        taken = {"Base"}
        for table in self.tables:
            if table.auto_created:
                name = _unique(_variable(table.name), taken)
                blocks.append(self.plain_table(table, name))
            else:
                app_label = table.model.split(".")[0]
                clash = table.class_name in taken or _imported(table.class_name)
                name = _unique(_camel(app_label) + table.class_name if clash else table.class_name, taken)
                blocks.append(self.model_class(table, name))
            exported.append(name)
        doc = docstring.strip()
        head = ['"""' + doc + ('\n"""' if "\n" in doc else '"""'), ""]
        head += self.imports.lines(self.width)
        head += [""]
        head += _lay(
            _Call("[", tuple(_string(n) for n in sorted(exported)), "]"), 0, self.width, "__all__ = "
        )
        head += ["", "", "class Base(DeclarativeBase):", "    pass"]
        out = head
        for block in blocks:
            out += ["", "", *block]
        return "\n".join(out).rstrip() + "\n"


def _camel(label: str) -> str:
    return "".join(part.capitalize() for part in label.split("_"))


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}{n}", n + 1
    taken.add(candidate)
    return candidate


_FIXED_IMPORTS = {
    "CheckConstraint",
    "Column",
    "Computed",
    "DeclarativeBase",
    "ForeignKey",
    "Identity",
    "Index",
    "Mapped",
    "Table",
    "UniqueConstraint",
    "mapped_column",
    "text",
    "uuid",
}


def _imported(name: str) -> bool:
    """Whether the module may import ``name`` (a model named ``Text`` or ``Index`` is renamed)."""
    import sqlalchemy

    if name in _FIXED_IMPORTS or name in _PYTHON_IMPORTS:
        return True
    for module in (sqlalchemy, postgresql):
        found = getattr(module, name, None)
        if isinstance(found, type) and issubclass(found, TypeEngine):
            return True
    return False


def render_module(tables: Sequence[TableMap], *, docstring: str, line_length: int = 88) -> str:
    """The module's text: ``Base`` and one class per model table, one ``Table`` per many-to-many table."""
    return _Writer(tables, line_length).module(docstring)
