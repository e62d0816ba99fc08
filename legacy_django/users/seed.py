"""Deterministic demo data: the staff user ``demo`` and 200 generated users.

Idempotent: existing users are left exactly as they are, so running it twice gives the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.db import transaction

from .models import User

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-123"
GENERATED_COUNT = 200
# Every generated user shares this password (hashing 200 distinct ones would take minutes).
GENERATED_PASSWORD = "user-password-123"

FIRST_NAMES = [
    "Alice",
    "Bob",
    "Chloé",
    "Dmitri",
    "Émile",
    "Fatima",
    "Günther",
    "Hana",
    "Ingrid",
    "José",
    "Kenji",
    "Łukasz",
    "Maria",
    "Nguyễn",
    "Olga",
    "Ørjan",
    "Priya",
    "Quentin",
    "Renée",
    "Søren",
    "Tomás",
    "Uma",
    "Vera",
    "Wei",
    "Zoë",
    "Ольга",
    "太郎",
    "",
]
LAST_NAMES = [
    "Anderson",
    "Brontë",
    "Castillo",
    "Dvořák",
    "Eriksson",
    "Fernández",
    "García",
    "Håkansson",
    "Ivanova",
    "Jäger",
    "Kowalski",
    "López",
    "Müller",
    "Novák",
    "O'Brien",
    "Petrović",
    "Smith",
    "Tanaka",
    "Umarov",
    "Virtanen",
    "Wójcik",
    "Yılmaz",
    "Zhang",
    "Иванов",
    "山田",
    "",
]
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def generated_user(n: int) -> dict[str, object]:
    """The attributes of generated user ``n`` (1-based); a pure function of ``n``."""
    first = FIRST_NAMES[(n * 5) % len(FIRST_NAMES)]  # multipliers coprime to the list lengths
    last = LAST_NAMES[(n * 7) % len(LAST_NAMES)]
    username = f"user{n:03d}"
    return {
        "username": username,
        # Mixed case on purpose: uniqueness and search are case-insensitive.
        "email": f"{username}@Example.org" if n % 9 == 0 else f"{username}@example.org",
        "first_name": first,
        "last_name": last,
        "is_active": n % 10 != 0,
        "is_staff": False,
        "is_superuser": False,
        "date_joined": EPOCH + timedelta(hours=7 * n, microseconds=1234 * n),
    }


@transaction.atomic
def seed_demo(count: int = GENERATED_COUNT) -> int:
    """Create whatever demo users are missing; return how many were created."""
    created = 0
    if not User.objects.filter(username=DEMO_USERNAME).exists():
        User.objects.create_superuser(
            DEMO_USERNAME, DEMO_EMAIL, DEMO_PASSWORD, first_name="Demo", last_name="Admin"
        )
        created += 1
    wanted = [generated_user(n) for n in range(1, count + 1)]
    existing = set(
        User.objects.filter(username__in=[w["username"] for w in wanted]).values_list("username", flat=True)
    )
    missing = [w for w in wanted if w["username"] not in existing]
    if missing:
        password = make_password(GENERATED_PASSWORD)
        User.objects.bulk_create([User(password=password, **attrs) for attrs in missing])
        created += len(missing)
    return created
