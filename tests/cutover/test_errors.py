"""How the toolkit words an error on one line: the type and the first line of the message."""

from __future__ import annotations

import sqlalchemy.exc

from cutover.errors import described, last_line, one_line


def test_a_message_over_several_lines_is_its_first_non_blank_line():
    exc = ValueError('\n  relation "users" does not exist\nLINE 1: SELECT ...\n        ^\n')
    assert one_line(exc) == 'relation "users" does not exist'
    assert described(exc) == 'ValueError: relation "users" does not exist'


def test_a_wrapped_driver_error_is_named_by_the_driver():
    orig = ConnectionRefusedError("connection refused\nIs the server running?")
    wrapped = sqlalchemy.exc.OperationalError("SELECT 1", {}, orig)
    assert described(wrapped) == "ConnectionRefusedError: connection refused"


def test_an_empty_message_is_the_type_alone():
    assert described(KeyError()) == "KeyError"
    assert described(RuntimeError("   \n")) == "RuntimeError"


def test_a_child_process_error_is_its_last_line():
    assert last_line("Traceback ...\n  File x\nModuleNotFoundError: No module named 'x'\n\n") == (
        "ModuleNotFoundError: No module named 'x'"
    )
    assert last_line("") == "(no output)"
