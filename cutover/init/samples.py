"""Concrete paths for an endpoint: one Django resolves to it (for starter cases and for checking the
manifest's routes against the resolver), and one of the same shape naming an object that does not exist."""

from __future__ import annotations

import itertools
import re

from .urlconf import Endpoint, literal_path

__all__ = ["missing_path", "sample_path"]

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


def sample_path(endpoint: Endpoint) -> str | None:
    """A path Django resolves to ``endpoint`` (parameters filled with plain values), or None."""
    return _fill(endpoint, _PRESENT)


def missing_path(endpoint: Endpoint) -> str | None:
    """A path of the endpoint's shape whose parameters name nothing a fixture would hold, or None."""
    names = set(re.compile(endpoint.regex).groupindex) - {"format"}
    return _fill(endpoint, _MISSING) if literal_path(endpoint) is None and names else None


def _fill(endpoint: Endpoint, values: tuple[str, ...]) -> str | None:
    from django.urls import NoReverseMatch, Resolver404, resolve, reverse

    exact = literal_path(endpoint)
    if exact is not None:
        return exact
    names = list(re.compile(endpoint.regex).groupindex)
    if endpoint.name is None or not names:
        return None
    for combination in itertools.product(values, repeat=len(names)):
        kwargs = dict(zip(names, combination, strict=True))
        if "format" in kwargs:  # DRF's format suffix
            kwargs["format"] = "json"
        try:
            path = reverse(endpoint.name, kwargs=kwargs)
        except NoReverseMatch:
            continue
        try:
            match = resolve(path)
        except Resolver404:
            continue
        if match.view_name == endpoint.name and re.search(endpoint.regex, path.lstrip("/")):
            return path
    return None
