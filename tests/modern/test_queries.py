"""The read statements are kept per shape, within bounds a client cannot push (fastapi_app/queries.py)."""

from __future__ import annotations

import gc

from fastapi_app import queries
from fastapi_app.reads import _COMPILED, compiled


def test_a_shape_builds_its_statement_once():
    assert queries.page_of_users(None, 2, ("id",)) is queries.page_of_users(None, 2, ("id",))
    assert queries.user_by_id(True, 1) is queries.user_by_id(True, 1)
    assert queries.page_of_users(None, 2, ("id",)) is not queries.page_of_users(None, 2, ("-id",))


def test_a_long_search_is_built_for_its_request_only():
    terms = queries.CACHED_TERMS + 1
    assert queries.page_of_users(None, terms, ("id",)) is not queries.page_of_users(None, terms, ("id",))
    assert queries.count_users(False, terms) is not queries.count_users(False, terms)


def test_compiled_sql_lives_as_long_as_its_statement():
    statement = queries.count_users(None, queries.CACHED_TERMS + 3)
    sql = compiled(statement)
    assert sql.names == tuple(f"term{i}" for i in range(queries.CACHED_TERMS + 3))
    assert compiled(statement) is sql
    before = len(_COMPILED)
    del statement
    gc.collect()
    assert len(_COMPILED) == before - 1
