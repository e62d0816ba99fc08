from rest_framework import parsers
from rest_framework.authtoken.views import ObtainAuthToken

from legacy_django.parsers import JSONParser


class ObtainToken(ObtainAuthToken):
    """DRF's obtain-token view (form, multipart or JSON credentials) with the hardened JSON parser."""

    parser_classes = (parsers.FormParser, parsers.MultiPartParser, JSONParser)


obtain_auth_token = ObtainToken.as_view()
