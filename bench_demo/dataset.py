"""The demo's ``[bench] dataset``: the values its scenarios' placeholders take, from the seeded users.

Called by ``cutover bench`` with the demo's Django set up on the bench's own database, after
``seed_demo --count N`` (``[bench] seed``). Sign-ups of earlier runs (``{unique}@{domain}``) are deleted
first, so that every run loads the same table.
"""

from __future__ import annotations

import math
from typing import Any

EMAIL_DOMAIN = "bench.example"  # the sign-up scenario's addresses: {unique}@{domain}
SEARCH_TERM = "user1"  # matches user1, user10..19, user100..199, user1000..1999, user10000: ~56 pages
PAGE_SIZE = 20  # the users list's page size (legacy_django.users.pagination)


def build() -> dict[str, Any]:
    """``id``: every user's id; ``page``: the search's result pages; ``search``; ``domain``."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Q

    user = get_user_model()
    user.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}").delete()
    with connection.cursor() as cursor:
        # Fresh statistics after the bulk insert/delete: every target then gets the same plans.
        cursor.execute(f'VACUUM ANALYZE "{user._meta.db_table}"')
    ids = list(user.objects.order_by("pk").values_list("pk", flat=True))
    fields = ("username", "email", "first_name", "last_name")
    matches = Q()
    for field in fields:
        matches |= Q(**{f"{field}__icontains": SEARCH_TERM})
    pages = max(1, math.ceil(user.objects.filter(matches).count() / PAGE_SIZE))
    return {"id": ids, "page": list(range(1, pages + 1)), "search": SEARCH_TERM, "domain": EMAIL_DOMAIN}
