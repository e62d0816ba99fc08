"""The Django admin works for staff users on the same users table."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import FIXTURE_PASSWORD

pytestmark = pytest.mark.django_db


def test_staff_superuser_logs_in_and_lists_users(make_user):
    make_user(username="root", email="root@example.com", is_staff=True, is_superuser=True)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": FIXTURE_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    page = client.get("/admin/users/user/")
    assert page.status_code == 200
    assert b"root@example.com" in page.content


def test_non_staff_cannot_use_admin(make_user):
    make_user(username="plain", email="plain@example.com")
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "plain", "password": FIXTURE_PASSWORD})
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302


def test_admin_session_works_on_the_api(make_user):
    make_user(username="root", email="root@example.com", is_staff=True, is_superuser=True)
    client = Client()
    client.post("/admin/login/", {"username": "root", "password": FIXTURE_PASSWORD})
    response = client.get("/api/users/me/")
    assert response.status_code == 200
    assert response.json()["is_staff"] is True


def test_admin_static_files_are_served():
    response = Client().get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).strip()
