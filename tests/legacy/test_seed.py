"""The demo data: deterministic and idempotent."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import call_command

from legacy_django.users.models import User
from legacy_django.users.seed import DEMO_PASSWORD, GENERATED_PASSWORD, generated_user, seed_demo

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple]:
    return list(User.objects.order_by("id").values_list())


def test_seed_twice_gives_the_same_rows():
    assert seed_demo() == 201
    first = snapshot()
    assert seed_demo() == 0
    assert snapshot() == first
    call_command("seed_demo", stdout=io.StringIO())
    assert snapshot() == first


def test_seed_content():
    seed_demo()
    demo = User.objects.get(username="demo")
    assert demo.email == "demo@example.com" and demo.is_staff and demo.is_superuser
    assert check_password(DEMO_PASSWORD, demo.password)
    generated = User.objects.exclude(username="demo")
    assert generated.count() == 200
    assert generated.filter(is_active=False).count() == 20
    assert check_password(GENERATED_PASSWORD, generated.first().password)
    names = "".join(generated.values_list("first_name", flat=True)) + "".join(
        generated.values_list("last_name", flat=True)
    )
    assert any(ord(ch) > 127 for ch in names)
    assert generated.filter(first_name="").exists()


def test_generated_users_are_a_pure_function_of_n():
    assert generated_user(7) == generated_user(7)
    assert generated_user(7)["username"] == "user007"
    assert generated_user(10)["is_active"] is False
