from __future__ import annotations

import pytest


@pytest.fixture
def alice(make_user):
    return make_user(username="alice", email="alice@example.com", first_name="Alice", last_name="Liddell")


@pytest.fixture
def staff(make_user):
    return make_user(username="boss", email="boss@example.com", is_staff=True)


@pytest.fixture
def client_as(api_client, token_for):
    """An API client authenticated with a DRF token for ``user``."""

    def login(user):
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        return api_client

    return login
