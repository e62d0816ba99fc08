"""Python hooks for what case data cannot say (see docs/parity.md)."""

from __future__ import annotations

from typing import Any

from cutover.parity.cases import Case


def lowercase_token_keyword(case: Case, fixture: Any) -> Case:
    """``Authorization: token <alice's key>``: DRF compares the keyword case-insensitively."""
    ((_, value),) = fixture.credential("token", "alice").headers
    return case.with_changes(headers=(("Authorization", "token " + value.split(" ", 1)[1]),))


def next_user_path(case: Case, fixture: Any) -> Case:
    """The detail URL of the user a sign-up would create next: not there yet."""
    return case.with_changes(path=f"/api/users/{fixture.next_id('users')}/")


def username_of_151_characters(case: Case, fixture: Any) -> Case:
    body = dict(case.json)
    body["username"] = "u" * 151
    return case.with_changes(json=body)


def names_of_151_characters(case: Case, fixture: Any) -> Case:
    return case.with_changes(json={**case.json, "first_name": "f" * 151, "last_name": "l" * 151})


def email_of_255_characters(case: Case, fixture: Any) -> Case:
    return case.with_changes(json={**case.json, "email": "e" * 243 + "@example.com"})


def password_of_129_characters(case: Case, fixture: Any) -> Case:
    return case.with_changes(json={**case.json, "password": "Pw-" + "x" * 126})


def null_names(case: Case, fixture: Any) -> Case:
    """JSON null for the names (TOML has no null): Django's columns are NOT NULL."""
    return case.with_changes(json={**case.json, "first_name": None, "last_name": None})


def deeply_nested_json(case: Case, fixture: Any) -> Case:
    """100,000 nested arrays: Python's parser recurses past its limit; the answer must still be a 400."""
    depth = 100_000
    return case.with_changes(raw="[" * depth + "]" * depth, content_type="application/json")
