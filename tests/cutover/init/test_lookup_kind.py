"""What ``cutover init`` reads of a DRF view's lookup: the model field its URL parameter names, so that the
starter cases' keys fit it (a UUID for a UUID key) and a malformed key is sent where Django 404s and a
typed port parameter 422s."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import models
from rest_framework import serializers, viewsets
from rest_framework.authtoken.models import Token

from cutover.init.samples import _MISSING, _PRESENT, _candidates, lookup_kind
from cutover.init.urlconf import Endpoint


class UUIDKeyed:
    """A model's ``_meta`` as far as the lookup is concerned: a UUID primary key (the demo has none)."""

    class _meta:  # noqa: N801 - Django's name
        pk = models.UUIDField(primary_key=True)


class ByInteger(viewsets.ModelViewSet):
    queryset = get_user_model().objects.all()


class ByUsername(viewsets.ModelViewSet):
    queryset = get_user_model().objects.all()
    lookup_field = "username"


class ByRenamedKwarg(viewsets.ModelViewSet):
    queryset = get_user_model().objects.all()
    lookup_url_kwarg = "user_pk"


class BySessionKey(viewsets.ModelViewSet):
    queryset = Session.objects.all()


class ByTokenUser(viewsets.ModelViewSet):
    queryset = Token.objects.all()
    lookup_field = "user"  # a one-to-one key: the integer it holds


class UUIDSerializer(serializers.Serializer):
    class Meta:
        model = UUIDKeyed


class ByUUIDThroughTheSerializer(viewsets.ModelViewSet):
    serializer_class = UUIDSerializer  # get_queryset() in the view: the model comes from the serializer


class Untold(viewsets.ViewSet):
    pass


def endpoint(view: type) -> Endpoint:
    return Endpoint(None, "", "", f"{__name__}.{view.__name__}", ("GET",), "")


@pytest.mark.parametrize(
    ("view", "name", "kind"),
    [
        (ByInteger, "pk", "integer"),
        (ByUsername, "username", "text"),
        (ByRenamedKwarg, "user_pk", "integer"),
        (ByRenamedKwarg, "pk", None),  # not the parameter the view looks up by
        (BySessionKey, "pk", "text"),
        (ByTokenUser, "user", "integer"),
        (ByUUIDThroughTheSerializer, "pk", "uuid"),
        (Untold, "pk", None),
    ],
)
def test_the_lookup_field_of_the_view(view, name, kind):
    assert lookup_kind(endpoint(view), name) == kind


def test_a_plain_view_or_a_missing_one_tells_nothing():
    assert lookup_kind(Endpoint(None, "", "", "tests.cutover.init.urls_sample.plain", ("GET",), ""), "pk") is None
    assert lookup_kind(Endpoint(None, "", "", "no.such.module.View", ("GET",), ""), "pk") is None


def test_the_values_that_fit_the_field_come_first():
    assert _candidates("pk", _PRESENT, True, "uuid")[0] == "00000000-0000-4000-8000-000000000001"
    assert _candidates("pk", _MISSING, False, "uuid")[0] == "ffffffff-ffff-4fff-bfff-ffffffffffff"
    assert _candidates("pk", _PRESENT, True, "integer")[0] == "1"
    assert _candidates("slug", _MISSING, False, "text")[0] == "does-not-exist"
    assert _candidates("slug", _PRESENT, True, "text")[0] == "example-slug"
    assert _candidates("pk", _MISSING, False, None) == _MISSING  # untold: as before
