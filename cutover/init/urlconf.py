"""The project's URLs as Django's resolver knows them: every endpoint of the URLconf, through ``include()``s,
namespaces and DRF routers, with the regex its path matches, the methods its view takes and its docstring.

The regex is built from the resolver's own compiled patterns (``path()`` converters, registered custom
converters and ``re_path()`` regexes alike), so it matches what Django matches; ``frontdoor_regex`` then
writes it for nginx (PCRE), or says why nginx cannot take it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Endpoint",
    "UnsupportedPattern",
    "endpoints",
    "frontdoor_regex",
    "literal_path",
    "pinned_prefixes",
    "resolves",
]

# Methods a view answers when it does not say (a function view): every one, as the manifest writes it.
ANY_METHOD = ("*",)


class UnsupportedPattern(ValueError):
    """A Django pattern that nginx's regex engine cannot express as Django matches it."""


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern that resolves to a view."""

    name: str | None  # the URL name with its namespaces, "api:user-detail"; None when unnamed
    regex: str  # Python regex over the path without its leading "/", anchored as Django anchors it
    route: str  # the pattern as written, joined over its includes ("api/users/<int:pk>/")
    view: str  # dotted path of the view (its class for class-based views)
    methods: tuple[str, ...]  # upper-case; ANY_METHOD when the view does not say
    description: str  # the first paragraph of the view's docstring


def endpoints(urlconf: Any = None) -> list[Endpoint]:
    """Every endpoint of the project's URLconf (``ROOT_URLCONF`` unless given), in resolution order."""
    from django.urls import get_resolver

    return list(_walk(get_resolver(urlconf).url_patterns, "", "", ()))


def pinned_prefixes(urlconf: Any = None) -> list[tuple[str, str]]:
    """``(id, prefix)`` of what stays on Django whatever moves: the admin site(s) at the URLconf's top
    level, ``STATIC_URL`` and ``MEDIA_URL`` when they are local paths."""
    from django.conf import settings
    from django.urls import URLResolver, get_resolver

    found: list[tuple[str, str]] = []
    for entry in get_resolver(urlconf).url_patterns:
        if isinstance(entry, URLResolver) and "admin" in (entry.app_name, entry.namespace):
            literal = literal_path(Endpoint(None, "^" + _regex_of(entry.pattern) + r"\Z", "", "", (), ""))
            if literal is not None:
                found.append(("admin", literal))
    for setting, route_id in (("STATIC_URL", "static"), ("MEDIA_URL", "media")):
        value = getattr(settings, setting, None) or ""
        if value.strip("/") and "://" not in value:  # not a CDN's URL, not the site's root
            prefix = "/" + value.lstrip("/")
            found.append((route_id, prefix if prefix.endswith("/") else prefix + "/"))
    return found


def _walk(patterns: Any, regex: str, route: str, namespaces: tuple[str, ...]) -> Iterator[Endpoint]:
    from django.urls import URLPattern, URLResolver

    for entry in patterns:
        part = _regex_of(entry.pattern)
        text = _join(route, str(entry.pattern))
        if isinstance(entry, URLResolver):
            inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from _walk(entry.url_patterns, regex + part, text, inner)
        elif isinstance(entry, URLPattern):
            name = ":".join((*namespaces, entry.name)) if entry.name else None
            view, methods, description = _view(entry.callback)
            yield Endpoint(name, "^" + regex + part, text, view, methods, description)


def resolves(path: str) -> bool:
    """Whether Django's resolver takes ``path``."""
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _join(route: str, part: str) -> str:
    """Patterns joined as Django joins them for ``ResolverMatch.route`` (an inner "^" dropped)."""
    return route + (part[1:] if route and part.startswith("^") else part)


def _regex_of(pattern: Any) -> str:
    """One pattern's regex without its start anchor (a prefix's end is open; an endpoint's is anchored)."""
    raw = pattern.regex.pattern
    return raw[1:] if raw.startswith("^") else raw


def _view(callback: Any) -> tuple[str, tuple[str, ...], str]:
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)  # DRF's, Django's
    target = cls if cls is not None else callback
    dotted = f"{getattr(target, '__module__', '?')}.{_name(target)}"
    actions = getattr(callback, "actions", None)  # a DRF viewset's method -> action map
    methods: tuple[str, ...]
    if cls is None:
        methods = ANY_METHOD
    else:
        names = getattr(cls, "http_method_names", ())
        handled = [m for m in (actions or names) if m in names and (actions or hasattr(cls, m))]
        if "options" in names and hasattr(cls, "options"):  # Django and DRF answer OPTIONS themselves
            handled.append("options")
        # HEAD as GET, where the view lets HEAD through (DRF's @api_view lists only the methods given)
        methods = _with_implied((m.upper() for m in handled), head="head" in names)
    doc = _own_doc(getattr(target, actions[next(iter(actions))], None)) if actions else ""
    doc = doc or _own_doc(target)
    return dotted, methods, doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def _name(target: Any) -> str:
    """The view's name as its module has it: DRF's @api_view class is named after the function, but its
    qualified name is its own (``WrappedAPIView``)."""
    qualname = getattr(target, "__qualname__", None) or repr(target)
    name = getattr(target, "__name__", None)
    return name if name and qualname.rsplit(".", 1)[-1] != name else qualname


def _own_doc(obj: Any) -> str:
    """``obj``'s own docstring, cleaned; not one inherited (Django's ``View`` has one that describes
    nothing of a subclass such as DRF's ``ObtainAuthToken``)."""
    if obj is None:
        return ""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _with_implied(methods: Any, head: bool = True) -> tuple[str, ...]:
    """The methods in a stable order; HEAD wherever GET is (when ``head``: Django and DRF answer it),
    OPTIONS for DRF."""
    seen = list(dict.fromkeys(methods))
    if head and "GET" in seen and "HEAD" not in seen:
        seen.insert(seen.index("GET") + 1, "HEAD")
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return tuple(sorted(seen, key=lambda m: (order.index(m) if m in order else len(order), m)))


# --- for the front door ----------------------------------------------------------------------------------

_GROUP_NAME = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
_BACKREFERENCE = re.compile(r"\(\?P=|\\[1-9]|\\g<")
_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux]+[:)]")
_META = re.compile(r"[\\.^$*+?{}\[\]|()]")


def frontdoor_regex(endpoint: Endpoint) -> str:
    """The endpoint's regex over nginx's URI (which starts with "/"), in PCRE: group names dropped (the
    same name twice, one per include, is an error there), Python's end anchor ``\\Z`` as ``$``."""
    regex = endpoint.regex
    if _BACKREFERENCE.search(regex):
        raise UnsupportedPattern(f"{endpoint.route!r}: a back-reference, which the front door cannot follow")
    if _INLINE_FLAGS.search(regex):
        raise UnsupportedPattern(f"{endpoint.route!r}: inline regex flags, which PCRE reads otherwise")
    body = _GROUP_NAME.sub("(", regex[1:])
    return "^/" + body.replace(r"\Z", "$")  # a pattern Django leaves open at its end stays open


def literal_path(endpoint: Endpoint) -> str | None:
    """The one path an endpoint without parameters matches ("/api/orders/"), or None."""
    body = endpoint.regex[1:]
    for end in (r"\Z", "$"):
        if body.endswith(end):
            body = body[: -len(end)]
            break
    else:
        return None
    if _META.search(re.sub(r"\\[^A-Za-z0-9]", "", body)):  # anything but escaped punctuation
        return None
    return "/" + re.sub(r"\\([^A-Za-z0-9])", r"\1", body)
