"""The demo's URLconf after the team added an endpoint (``cutover init`` run again adds its route)."""

from django.http import HttpResponse
from django.urls import path

from legacy_django.urls import urlpatterns as demo


def health(request):
    return HttpResponse("ok")


urlpatterns = [*demo, path("api/health/", health, name="health")]
