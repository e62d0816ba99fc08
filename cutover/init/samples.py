"""Concrete paths for an endpoint: one Django resolves to it (for starter cases and for checking the
manifest's routes against the resolver), and one of the same shape naming an object that does not exist."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from .urlconf import Endpoint, literal_path

__all__ = ["Sample", "missing_path", "sample", "sample_path"]

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


def _candidates(name: str, values: tuple[str, ...], placeholders: bool) -> tuple[str, ...]:
    if name == "format":  # DRF's format suffix
        return ("json",)
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
    choices = [_candidates(name, values, placeholders) for name in names]
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
