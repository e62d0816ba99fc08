"""The catalog port with four deliberate regressions, each one a naive port's habit.

Served by uvicorn in the example's virtualenv (``broken_port:app``) to prove that the comparison of
``test_catalog_http_parity`` catches real differences, on the cases they touch and on no others.
"""

from __future__ import annotations

from typing import Any

import catalog_api.routes.products as products
from catalog_api import errors, serializers
from catalog_api.main import create_app

# 1. DRF before 3.15 said "Not found." for a missing object; 3.15+ passes Django's message through.
products.NOT_FOUND = "Not found."

# 2. Datetimes as Python (and FastAPI's jsonable_encoder) write them: +00:00 rather than DRF's Z.
serializers.represent_datetime = lambda value: value.isoformat() if value else None

# 3. "created_by": null for a product nobody created, where DRF leaves the key out.
_product_json = products.product_json


def _with_null_creator(*args: Any, **kwargs: Any) -> dict[str, Any]:
    data = _product_json(*args, **kwargs)
    data.setdefault("created_by", None)
    return data


products.product_json = _with_null_creator

# 4. FastAPI's 422 for a validation error, where DRF answers 400.
errors.ValidationError.status_code = 422

app = create_app()
