"""Writes that lose a race to a concurrent request: the unique indexes decide, and both apps answer the
validators' own 400 and write nothing.

The deterministic tests open the window by hand: another connection commits the conflicting row after the
request's validation and before its write (from the password hashing, which sits between the two in both
apps), so the violation surfaces at the insert (a sign-up's flush) or at the commit (an update). The live
test races real servers, as clients would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from legacy_django.users.models import User
from tests.parity.apps import this_run_database_url

from .compare import Call, legacy, modern
from .live import RawResponse, exchange, request_bytes

pytestmark = pytest.mark.django_db(transaction=True)

JSON = "application/json"
PASSWORD = "a-long-unusual-passphrase-42"
EMAIL_TAKEN = {"email": ["A user with that email already exists."]}
USERNAME_TAKEN = {"username": ["A user with that username already exists."]}


def insert_user(username: str, email: str) -> None:
    """A row committed by another connection, as a concurrent sign-up commits it."""
    with psycopg.connect(this_run_database_url().libpq(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) VALUES ('!', false, %s, '', '', %s, false, true, now())",
            (username, email),
        )


@pytest.fixture(autouse=True)
def quick_hashes(settings, monkeypatch) -> None:
    """The live servers' cheap hashes in this process too (a million iterations cost a second each)."""
    from fastapi_app.compat import passwords
    from tests.cross import live_modern, live_settings

    settings.PASSWORD_HASHERS = live_settings.PASSWORD_HASHERS
    assert passwords.make_password_sync.__kwdefaults__ is not None
    monkeypatch.setitem(
        passwords.make_password_sync.__kwdefaults__, "iterations", live_modern.QUICK_ITERATIONS
    )


@pytest.fixture
def between_validation_and_write(monkeypatch) -> Callable[[Callable[[], None]], None]:
    """``between(action)``: run ``action`` while either app hashes the request's password, that is after
    its validators passed and before its row is written."""
    import anyio.to_thread
    from django.contrib.auth.base_user import AbstractBaseUser

    from fastapi_app import crud
    from fastapi_app.routes import users

    django_set_password = AbstractBaseUser.set_password
    port_make_password = crud.make_password
    pending: list[Callable[[], None]] = []

    def set_password(self: Any, raw: str) -> None:
        pending.pop()()
        django_set_password(self, raw)

    async def make_password(raw: str) -> str:
        await anyio.to_thread.run_sync(pending.pop())
        return await port_make_password(raw)

    monkeypatch.setattr(AbstractBaseUser, "set_password", set_password)
    monkeypatch.setattr(crud, "make_password", make_password)
    monkeypatch.setattr(users, "make_password", make_password)
    return pending.append


# (the request's username and email, the row committed meanwhile, the answer)
SIGNUP_RACES = {
    "email in another case": (("second", "Same@example.com"), ("first", "same@EXAMPLE.com"), EMAIL_TAKEN),
    "same username": (("same", "second@example.com"), ("same", "first@example.com"), USERNAME_TAKEN),
    # The violation's message quotes the username; only the constraint's name tells which index it was.
    "username that names the email index": (
        ("users_email_ci_uniq", "second@example.com"),
        ("users_email_ci_uniq", "first@example.com"),
        USERNAME_TAKEN,
    ),
}


@pytest.mark.parametrize("race", SIGNUP_RACES)
def test_a_signup_that_loses_at_the_insert_gets_the_validators_400(
    race, legacy_client, modern_client, between_validation_and_write
):
    (username, email), (other_username, other_email), expected = SIGNUP_RACES[race]
    body = json.dumps({"username": username, "email": email, "password": PASSWORD})
    for app, client, send in (("legacy", legacy_client, legacy), ("modern", modern_client, modern)):
        User.objects.all().delete()
        between_validation_and_write(lambda: insert_user(other_username, other_email))
        answer = send(client, Call("POST", "/api/users/", {}, body, JSON))  # type: ignore[operator]
        assert (app, answer.status, json.loads(answer.body)) == (app, 400, expected)
        assert answer.headers["content-type"] == JSON
        assert list(User.objects.values_list("username", flat=True)) == [other_username], app


# (the change, the row committed meanwhile, the answer)
UPDATE_RACES = {
    "email": ({"email": "Taken@example.com"}, ("taker", "taken@EXAMPLE.com"), EMAIL_TAKEN),
    "username": ({"username": "taken"}, ("taken", "taker@example.com"), USERNAME_TAKEN),
}


@pytest.mark.parametrize("race", UPDATE_RACES)
@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_an_update_that_loses_at_the_commit_gets_the_validators_400_and_changes_nothing(
    race, method, legacy_client, modern_client, make_user, token_for, between_validation_and_write
):
    change, (other_username, other_email), expected = UPDATE_RACES[race]
    for app, client, send in (("legacy", legacy_client, legacy), ("modern", modern_client, modern)):
        User.objects.all().delete()
        alice = make_user(username="alice", email="alice@example.com", first_name="Alice")
        before = User.objects.values().get(pk=alice.pk)
        body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD, "first_name": "New"}
        body.update(change)
        headers = {"Authorization": f"Token {token_for(alice)}"}
        between_validation_and_write(lambda: insert_user(other_username, other_email))
        call = Call(method, f"/api/users/{alice.pk}/", headers, json.dumps(body), JSON)
        answer = send(client, call)  # type: ignore[operator]
        assert (app, answer.status, json.loads(answer.body)) == (app, 400, expected)
        assert answer.headers["content-type"] == JSON
        assert User.objects.values().get(pk=alice.pk) == before, app  # not the name, not the password
        assert User.objects.count() == 2


# -- real servers, real concurrency -------------------------------------------------------------------

ROUNDS = 6
CONCURRENT = 8  # split evenly across the two servers


def _race(live: Any, bodies: list[dict[str, str]]) -> list[tuple[str, RawResponse]]:
    """Send the sign-ups at once (a barrier releases every thread together), alternating servers."""
    barrier = threading.Barrier(len(bodies))
    answers: list[tuple[str, RawResponse] | None] = [None] * len(bodies)
    targets = [("legacy", live.legacy), ("modern", live.modern)]

    def sign_up(i: int) -> None:
        app, port = targets[i % 2]
        data = request_bytes("POST", "/api/users/", [("Content-Type", JSON)], json.dumps(bodies[i]).encode())
        barrier.wait()
        answers[i] = (app, exchange(port, data, "POST"))

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(answer is not None for answer in answers), "a sign-up got no answer"
    return answers  # type: ignore[return-value]


def _rounds() -> Iterator[tuple[str, list[dict[str, str]], dict[str, list[str]]]]:
    for n in range(ROUNDS):
        if n % 2 == 0:  # one email in different letter cases
            email = f"racer{n}@example.com"
            variants = [email.upper(), email, email.title(), email.swapcase()]
            bodies = [
                {"username": f"racer{n}-{i}", "email": variants[i % 4], "password": PASSWORD}
                for i in range(CONCURRENT)
            ]
            yield f"email racer{n}", bodies, EMAIL_TAKEN
        else:  # one username, different emails
            bodies = [
                {"username": f"racer{n}", "email": f"racer{n}-{i}@example.com", "password": PASSWORD}
                for i in range(CONCURRENT)
            ]
            yield f"username racer{n}", bodies, USERNAME_TAKEN


def test_concurrent_signups_across_both_apps_have_one_winner_and_the_legacy_400s(live):
    for name, bodies, refusal in _rounds():
        answers = _race(live, bodies)
        statuses = sorted(response.status for _, response in answers)
        assert statuses == [201] + [400] * (CONCURRENT - 1), (name, answers)
        for app, response in answers:
            assert response.header("content-type") == JSON, (name, app, response)
            if response.status == 400:
                assert response.json() == refusal, (name, app, response)
        winner = next(response.json() for _, response in answers if response.status == 201)
        usernames = {body["username"] for body in bodies}
        rows = list(User.objects.filter(username__in=usernames).values_list("id", flat=True))
        assert rows == [winner["id"]], name


def test_a_token_for_a_user_deleted_meanwhile_is_a_500_in_both(make_user, modern_client, monkeypatch):
    # Token.objects.get_or_create: the insert fails at commit (the deferred foreign key), the retry's get
    # finds no token and re-raises, a 500. The port keeps that (constraints.py): no 400 the legacy never gives.
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.test import Client

    from fastapi_app.routes import auth

    def delete_meanwhile() -> None:
        with psycopg.connect(this_run_database_url().libpq(), autocommit=True) as conn:
            conn.execute("DELETE FROM users WHERE username = 'alice'")

    django_check = AbstractBaseUser.check_password
    port_check = auth.check_password

    def check_password(self: Any, raw: str) -> bool:
        ok = django_check(self, raw)
        delete_meanwhile()
        return ok

    async def check_then_delete(raw: str, encoded: str) -> bool:
        import anyio.to_thread

        ok = await port_check(raw, encoded)
        await anyio.to_thread.run_sync(delete_meanwhile)
        return ok

    monkeypatch.setattr(AbstractBaseUser, "check_password", check_password)
    monkeypatch.setattr(auth, "check_password", check_then_delete)
    body = json.dumps({"username": "alice", "password": "fixture-password-123"})
    answers = []
    for client, send in ((Client(raise_request_exception=False), legacy), (modern_client, modern)):
        make_user(username="alice")
        answers.append(send(client, Call("POST", "/api/auth/token/", {}, body, JSON)))  # type: ignore[operator]
        assert not User.objects.exists()
    assert [a.status for a in answers] == [500, 500]
    assert answers[0].body == answers[1].body and answers[1].headers["content-type"].startswith("text/html")
