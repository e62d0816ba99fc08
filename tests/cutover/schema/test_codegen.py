"""The mapping's pieces without a project: Django's column types as SQLAlchemy types, and rendered modules
for what the demo does not have (JSON, UUID, numeric, server defaults, ON DELETE, partial and functional
indexes, awkward names) that import, are ruff-clean and have no drift from a database built from them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection, models
from sqlalchemy import BigInteger, Boolean, DateTime, Integer, Numeric, String, Text, Uuid, create_engine
from sqlalchemy.dialects import postgresql

from cutover.dburl import DatabaseURL
from cutover.embedded import ensure_database
from cutover.schema.codegen import render_module
from cutover.schema.drift import check_drift
from cutover.schema.mapping import (
    Check,
    ColumnMap,
    ForeignKeyMap,
    IndexMap,
    TableMap,
    UniqueMap,
    django_type,
)

RUFF = Path(sys.executable).parent / "ruff"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (models.CharField(max_length=20), "VARCHAR(20)"),
        (models.TextField(), "TEXT"),
        (models.DateTimeField(), "TIMESTAMP WITH TIME ZONE"),
        (models.DateField(), "DATE"),
        (models.DecimalField(max_digits=10, decimal_places=2), "NUMERIC(10, 2)"),
        (models.JSONField(), "JSONB"),
        (models.UUIDField(), "UUID"),
        (models.BooleanField(), "BOOLEAN"),
        (models.BigAutoField(primary_key=True), "BIGINT"),
        (models.SmallIntegerField(), "SMALLINT"),
        (models.PositiveIntegerField(), "INTEGER"),
        (models.FloatField(), "DOUBLE PRECISION"),
        (models.DurationField(), "INTERVAL"),
        (models.BinaryField(), "BYTEA"),
        (models.GenericIPAddressField(), "INET"),
        (models.CharField(max_length=2, choices=[("a", "A"), ("b", "B")]), "VARCHAR(2)"),  # no enum
    ],
)
def test_djangos_column_types_on_postgresql(field, expected):
    type_ = django_type(field.db_type(connection))
    assert type_ is not None
    assert type_.compile(dialect=postgresql.dialect()) == expected


def test_an_unknown_column_type_is_left_to_the_database():
    assert django_type("tsvector") is None


def col(name: str, type_, python: str, nullable: bool = False, **kwargs) -> ColumnMap:
    return ColumnMap(name=name, type=type_, python=python, nullable=nullable, **kwargs)


IDENTITY = {"always": False, "start": 1, "increment": 1}
TABLES = [
    TableMap(
        name="shop_order",
        model="shop.Order",
        class_name="Order",
        auto_created=False,
        columns=(
            col("id", BigInteger(), "int", primary_key=True, identity=IDENTITY),
            col(
                "reference",
                Uuid(),
                "uuid.UUID",
                notes=("Django's default is uuid.uuid4(), applied in Python",),
            ),
            col("payload", postgresql.JSONB(), "Any", nullable=True),
            col("total", Numeric(12, 3), "Decimal", server_default="0"),
            col("placed_at", DateTime(timezone=True), "datetime", server_default="now()"),
            col("note", Text(), "str", comment='what the "customer" said'),
            col("class", String(10), "str"),
            col("metadata", Boolean(), "bool", nullable=True),
        ),
        uniques=(UniqueMap("shop_order_reference_uniq", ("reference",)),),
        indexes=(
            IndexMap("shop_order_lower_note", (("lower(note)", True),)),
            IndexMap("shop_order_open_idx", (("placed_at", False),), where="total > 0"),
        ),
        checks=(Check("shop_order_total_check", "total >= 0"),),
    ),
    TableMap(
        name="shop_text",
        model="shop.Text",  # named like a SQLAlchemy type: renamed after its app
        class_name="Text",
        auto_created=False,
        columns=(
            col("id", Integer(), "int", primary_key=True, identity=IDENTITY),
            col(
                "order_id",
                BigInteger(),
                "int",
                foreign_key=ForeignKeyMap(
                    "shop_text_order_id_fk", "shop_order.id", "CASCADE", None, True, "DEFERRED"
                ),
            ),
        ),
    ),
]


@pytest.fixture
def scratch() -> DatabaseURL:
    server = DatabaseURL.parse(os.environ["DATABASE_URL"])
    url = ensure_database(server, f"codegen_{uuid.uuid4().hex[:8]}")
    yield url
    with psycopg.connect(server.with_name("postgres").libpq(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{url.name}" WITH (FORCE)')


def test_a_rendered_module_imports_is_ruff_clean_and_round_trips(tmp_path, scratch):
    output = tmp_path / "shop_models.py"
    output.write_text(render_module(TABLES, docstring="A test mapping.", line_length=88))
    for command in (["format", "--check", "--isolated"], ["check", "--isolated", "--select", "E,F,I,B,UP"]):
        done = subprocess.run([str(RUFF), *command, str(output)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr + output.read_text()
    text = output.read_text()
    assert (
        "class ShopText(Base):" in text and 'class_: Mapped[str] = mapped_column("class", String(10))' in text
    )
    assert "payload: Mapped[Any] = mapped_column(JSONB, nullable=True)" in text
    assert 'ondelete="CASCADE"' in text and "# Django's default is uuid.uuid4()" in text

    name = f"shop_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, output)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    metadata = module.Base.metadata
    order = metadata.tables["shop_order"]
    assert order.c.payload.nullable and not order.c.reference.nullable and order.c.metadata.nullable

    engine = create_engine(scratch.sqlalchemy_sync())
    try:
        metadata.create_all(engine)  # only here: the test builds the database from the mapping
    finally:
        engine.dispose()
    assert check_drift(scratch, metadata) == []
