"""The demo's URLs plus one view with DRF's own AutoSchema: drf-spectacular refuses to generate the
schema (``Incompatible AutoSchema used on View``), as it does for a project that set one somewhere."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.schemas.openapi import AutoSchema
from rest_framework.views import APIView

from legacy_django.urls import urlpatterns as demo


class OldSchemaView(APIView):
    schema = AutoSchema()

    def get(self, request):
        return Response({})


urlpatterns = [*demo, path("api/old-schema/", OldSchemaView.as_view())]
