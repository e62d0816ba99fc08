"""One pooled read connection per request (fastapi_app.reads.request_scope): a request's reads share one
checkout of the app's real asyncpg pool, the connection is back in the pool when the request ends however
it ends, and no read holds one through a password hash."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import bindparam, select

from fastapi_app.reads import Reads
from shared_db.models import User
from tests.conftest import FIXTURE_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


class Counting:
    """The app's asyncpg pool with its checkouts counted; every call goes on to the real pool."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.acquired = 0

    def acquire(self, *args: Any, **kwargs: Any) -> Any:
        self.acquired += 1
        return self.pool.acquire(*args, **kwargs)

    def checked_out(self) -> int:
        return self.pool.get_size() - self.pool.get_idle_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


@pytest.fixture
def pool(modern_app) -> Counting:
    reads: Reads = modern_app.state.reads
    counting = Counting(reads.pool)
    reads.pool = counting  # type: ignore[assignment]
    return counting


@pytest.fixture
def alice(make_user):
    return make_user(username="alice", email="alice@example.com")


@pytest.fixture
async def token(alice, auth_header) -> dict[str, str]:
    return await auth_header(alice)


async def test_a_detail_reads_its_token_and_its_user_on_one_checkout(modern, pool, alice, token):
    response = await modern.get(f"/api/users/{alice.pk}/", headers=token)
    assert response.status_code == 200 and response.json()["username"] == "alice"
    assert pool.acquired == 1  # two statements: the token with its user, then the user
    assert pool.checked_out() == 0


async def test_a_page_reads_its_token_count_and_rows_on_one_checkout(modern, pool, alice, token):
    response = await modern.get("/api/users/?search=ali", headers=token)
    assert response.status_code == 200 and response.json()["count"] == 1
    assert pool.acquired == 1
    assert pool.checked_out() == 0


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/users/{pk}/", {"Authorization": "Token " + "0" * 40}, 401),  # the token read, then the error
        ("/api/users/999999/", None, 404),  # both reads, the second finds nothing
        ("/api/users/{pk}/?format=xml", None, 404),  # refused before any read
    ],
)
async def test_the_connection_is_back_in_the_pool_however_the_request_ends(
    modern, pool, alice, token, path, headers, status
):
    response = await modern.get(path.format(pk=alice.pk), headers=headers or token)
    assert response.status_code == status
    assert pool.acquired <= 1
    assert pool.checked_out() == 0


async def test_requests_one_after_another_reuse_the_pooled_connection(modern, pool, alice, token):
    for _ in range(5):
        assert (await modern.get(f"/api/users/{alice.pk}/", headers=token)).status_code == 200
    assert pool.acquired == 5 and pool.get_size() == 1


async def test_outside_a_request_each_read_takes_its_own_checkout(modern_app, pool, alice):
    reads: Reads = modern_app.state.reads
    statement = select(User.username).where(User.id == bindparam("pk"))
    assert await reads.value(statement, {"pk": alice.pk}) == "alice"
    assert await reads.value(statement, {"pk": alice.pk}) == "alice"
    assert pool.acquired == 2 and pool.checked_out() == 0


@pytest.fixture
def checked_out_while_hashing(monkeypatch, pool) -> list[int]:
    """How many read connections were out each time the port hashed a password (the hash still runs)."""
    import fastapi_app.crud
    import fastapi_app.routes.auth
    import fastapi_app.routes.users

    seen: list[int] = []
    for module in (fastapi_app.routes.auth, fastapi_app.routes.users, fastapi_app.crud):
        for name in ("make_password", "check_password"):
            real = getattr(module, name, None)
            if real is None:
                continue

            async def spy(*args: Any, _real: Any = real) -> Any:
                seen.append(pool.checked_out())
                return await _real(*args)

            monkeypatch.setattr(module, name, spy)
    return seen


async def test_a_login_hashes_with_no_read_connection_held(
    modern, pool, alice, token, checked_out_while_hashing
):
    # a token in the header too: authentication reads it first, on the request's connection
    response = await modern.post(
        "/api/auth/token/", json={"username": "alice", "password": FIXTURE_PASSWORD}, headers=token
    )
    assert response.status_code == 200
    assert pool.acquired == 1 and checked_out_while_hashing == [0]


async def test_a_password_change_hashes_with_no_read_connection_held(
    modern, pool, alice, token, checked_out_while_hashing
):
    response = await modern.patch(
        f"/api/users/{alice.pk}/", json={"password": "a-brand-new-passphrase"}, headers=token
    )
    assert response.status_code == 200
    assert pool.acquired == 1 and checked_out_while_hashing == [0]


async def test_a_sign_up_hashes_with_no_read_connection_held(modern, pool, token, checked_out_while_hashing):
    body = {"username": "bob", "email": "bob@example.com", "password": "a-brand-new-passphrase"}
    response = await modern.post("/api/users/", json=body, headers=token)
    assert response.status_code == 201
    assert pool.acquired == 1 and checked_out_while_hashing == [0]
