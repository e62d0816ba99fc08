"""Concrete paths for an endpoint: one Django resolves to it (for starter cases and for checking the
manifest's routes against the resolver), and one of the same shape naming an object that does not exist."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from .urlconf import Endpoint, literal_path

__all__ = ["Sample", "lookup_kind", "malformed_path", "missing_path", "sample", "sample_path"]

# Tried in order for each parameter: an integer id, a slug, a UUID, a year, a code, a file name.
_PRESENT = ("1", "sample", "00000000-0000-4000-8000-000000000001", "2024", "ABC", "a", "a.txt")
_MISSING = (
    "999999999",
    "does-not-exist",
    "ffffffff-ffff-4fff-bfff-ffffffffffff",
    "9999",
    "ZZZ",
    "z",
    "z.txt",
)
# A parameter named as a primary key ("pk", "id", "user_id") is tried as "1" first, a table's first row;
# any other ("slug", "username") as "example-NAME" first, a value no one takes for a real one.
_KEY_NAME = re.compile(r"(?:^|_)(?:pk|id)$", re.IGNORECASE)
# The values that fit a DRF lookup's model field, tried first where the view tells the field.
_FITS = {
    "uuid": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "integer": re.compile(r"[0-9]+"),
    "text": re.compile(r"[a-z][a-z-]*"),
}
# A lookup value the URL takes but the field cannot hold: Django's lookup fails it as a 404, where a
# port's typed path parameter (``pk: int``, ``id: UUID``) answers 422.
_MALFORMED = "not-a-key"


@dataclass(frozen=True)
class Sample:
    """A path Django resolves to an endpoint, and the value each of its parameters was given (made up)."""

    path: str
    values: dict[str, str] = field(default_factory=dict)  # parameter -> value, DRF's format suffix left out


def sample(endpoint: Endpoint) -> Sample | None:
    """A path Django resolves to ``endpoint`` (parameters filled with plain values), or None."""
    return _fill(endpoint, _PRESENT, placeholders=True)


def sample_path(endpoint: Endpoint) -> str | None:
    """The path of :func:`sample`, or None."""
    found = sample(endpoint)
    return found.path if found is not None else None


def missing_path(endpoint: Endpoint) -> str | None:
    """A path of the endpoint's shape whose parameters name nothing a fixture would hold, or None."""
    names = set(re.compile(endpoint.regex).groupindex) - {"format"}
    if literal_path(endpoint) is not None or not names:
        return None
    found = _fill(endpoint, _MISSING, placeholders=False)
    return found.path if found is not None else None


def malformed_path(endpoint: Endpoint) -> str | None:
    """A path of the endpoint's shape whose one lookup parameter, a number or a UUID in the view's model,
    is neither (the URL taking it), or None: where Django answers 404 and a typed port parameter 422."""
    names = set(re.compile(endpoint.regex).groupindex) - {"format"}
    if literal_path(endpoint) is not None or len(names) != 1:
        return None
    (name,) = names
    if lookup_kind(endpoint, name) not in ("uuid", "integer"):
        return None
    found = _fill(endpoint, (_MALFORMED,), placeholders=False)
    return found.path if found is not None else None


def lookup_kind(endpoint: Endpoint, name: str) -> str | None:
    """``"uuid"``, ``"integer"`` or ``"text"``: the model field a DRF view looks its object up by with
    URL parameter ``name`` (``lookup_url_kwarg``, else ``lookup_field``), from the view's ``queryset`` or
    its serializer's model; None where the view does not tell."""
    from django.core.exceptions import FieldDoesNotExist
    from django.db import models
    from django.utils.module_loading import import_string

    try:
        view = import_string(endpoint.view)
    except ImportError:
        return None
    lookup = getattr(view, "lookup_field", None)
    if not isinstance(lookup, str) or name != (getattr(view, "lookup_url_kwarg", None) or lookup):
        return None
    queryset = getattr(view, "queryset", None)
    model = getattr(queryset, "model", None)
    if model is None:
        meta = getattr(getattr(view, "serializer_class", None), "Meta", None)
        model = getattr(meta, "model", None)
    try:
        field = model._meta.pk if lookup == "pk" else model._meta.get_field(lookup)  # type: ignore[union-attr]
    except (AttributeError, FieldDoesNotExist):
        return None
    target = getattr(field, "target_field", None) or field  # a foreign key: the key it holds
    if isinstance(target, models.UUIDField):
        return "uuid"
    if isinstance(target, models.IntegerField | models.AutoField):
        return "integer"
    if isinstance(target, models.CharField | models.TextField):
        return "text"
    return None


def _candidates(
    name: str, values: tuple[str, ...], placeholders: bool, kind: str | None = None
) -> tuple[str, ...]:
    if name == "format":  # DRF's format suffix
        return ("json",)
    if kind in _FITS:  # the values that fit the lookup's field first, the others after
        fits = tuple(v for v in values if _FITS[kind].fullmatch(v))
        values = (*fits, *(v for v in values if v not in fits))
        if kind != "text":
            return values
    if placeholders and not _KEY_NAME.search(name):
        return (f"example-{name.lower().replace('_', '-')}", *values)
    return values


def _fill(endpoint: Endpoint, values: tuple[str, ...], placeholders: bool) -> Sample | None:
    from django.urls import NoReverseMatch, Resolver404, resolve, reverse

    exact = literal_path(endpoint)
    if exact is not None:
        return Sample(exact)
    names = list(re.compile(endpoint.regex).groupindex)
    if endpoint.name is None or not names:
        return None
    choices = [_candidates(name, values, placeholders, lookup_kind(endpoint, name)) for name in names]
    for combination in itertools.product(*choices):
        kwargs = dict(zip(names, combination, strict=True))
        try:
            path = reverse(endpoint.name, kwargs=kwargs)
        except NoReverseMatch:
            continue
        try:
            match = resolve(path)
        except Resolver404:
            continue
        if match.view_name == endpoint.name and re.search(endpoint.regex, path.lstrip("/")):
            return Sample(path, {k: v for k, v in kwargs.items() if k != "format"})
    return None
