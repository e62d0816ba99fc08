"""The demo's URLconf after the team removed the token endpoint (``cutover init`` marks its route)."""

from legacy_django.urls import urlpatterns as demo

urlpatterns = [pattern for pattern in demo if getattr(pattern, "name", None) != "auth-token"]
