import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")
application = get_wsgi_application()

# Production tuning, the same as the port's (fastapi_app/main.py) so that the benchmark compares like with
# like: load the URLconf and the views now rather than in the first request, then keep everything loaded
# so far (Django, DRF, the project: tens of thousands of long-lived objects) out of the garbage
# collector's sight, so that a full collection no longer walks it (docs/performance.md).
get_resolver().url_patterns  # noqa: B018 - imports the URLconf and, through it, every view
gc.collect()
gc.freeze()
