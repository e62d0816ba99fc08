import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")
application = get_wsgi_application()

# Production tuning, the same as the port's (fastapi_app/main.py) so that the benchmark compares like with
# like: load the URLconf and the views now rather than in the first request, then keep everything loaded
# so far (Django, DRF, the project: tens of thousands of long-lived objects) out of the garbage
# collector's sight, so that a full collection no longer walks it; and collect the young generation less
# often (docs/performance.md, "Garbage collection").
get_resolver().url_patterns  # noqa: B018 - imports the URLconf and, through it, every view
gc.collect()
gc.freeze()
gc.set_threshold(10_000)  # a young-generation collection every 10,000 allocations, not 700 (as the port)
