"""The port's Django sessions (``fastapi_app/sessions.py``) on the shared ``django_session`` table."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore

from fastapi_app import sessions
from fastapi_app.sessions import SessionState
from tests.modern.conftest import orm

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_cycled_session_whose_new_key_is_taken_tries_another_like_django(modern_app, monkeypatch):
    # SessionStore.create: save(must_create=True) raises CreateError on a taken key and the loop draws again.
    def django_session(data: dict[str, str]) -> str:
        store = SessionStore()
        store.update(data)
        store.create()
        return str(store.session_key)

    old = await orm(django_session, {"who": "old"})
    taken = await orm(django_session, {"who": "someone else"})
    keys = iter([taken, "x" * 32])
    monkeypatch.setattr(sessions, "new_session_key", lambda: next(keys))
    state = SessionState(cookie_present=True, key=old, loaded=True, data={"who": "old"})
    async with modern_app.state.sessions() as db:
        await state.cycle_key(db, {"extra": "1"}, modern_app.state.settings.SECRET_KEY)
    assert state.key == state.new_cookie_key == "x" * 32

    def stored(key: str) -> dict[str, str] | None:
        store = SessionStore(key)
        return dict(store.load()) if store.exists(key) else None

    assert await orm(stored, "x" * 32) == {"who": "old", "extra": "1"}
    assert await orm(stored, taken) == {"who": "someone else"}  # untouched
    assert await orm(stored, old) is None
