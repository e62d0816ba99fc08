"""DRF's content negotiation for a JSON-only API: ``Accept`` and ``?format=`` pick the renderer (or 406/404),
``Content-Type`` picks the parser (or 415). Ported from ``rest_framework.negotiation`` and
``rest_framework.utils.mediatypes`` (DRF 3.18) and ``django.utils.http.parse_header_parameters``.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from functools import cached_property, lru_cache

from .errors import NotAcceptable, NotFound

__all__ = [
    "JSON",
    "Negotiated",
    "MediaType",
    "media_type_matches",
    "parse_header_parameters",
    "select_parser",
    "select_renderer",
]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"

MAX_ACCEPT_HEADER_LENGTH = 8192
MAX_ACCEPT_TOKENS = 64
MAX_MEDIA_TYPE_LENGTH = 256


def parse_header_parameters(line: str) -> tuple[str, dict[str, str]]:
    """Django's ``parse_header_parameters``: the lower-cased main value and its parameters."""
    if not line:
        return "", {}
    if ";" not in line:
        return line.strip().lower(), {}
    message = Message()
    message["content-type"] = line
    params = message.get_params() or [("", "")]
    pdict: dict[str, str] = {}
    key = params.pop(0)[0].lower()
    for name, value in params:
        if not name:
            continue
        if isinstance(value, tuple):
            if encoding := value[0]:
                codecs.lookup(encoding)  # LookupError, as Django's ValueError, makes the type unusable
            value = collapse_rfc2231_value(value)
        pdict[name] = value
    return key, pdict


class MediaType:
    """``rest_framework.utils.mediatypes._MediaType``."""

    def __init__(self, text: str | None) -> None:
        self.orig = "" if text is None else text
        try:
            self.full_type, self.params = parse_header_parameters(self.orig)
        except (ValueError, LookupError):
            self.full_type, self.params = "", {}
        self.main_type, _, self.sub_type = self.full_type.partition("/")

    def match(self, other: MediaType) -> bool:
        for key in self.params:
            if key != "q" and other.params.get(key) != self.params.get(key):
                return False
        if self.sub_type != "*" and other.sub_type != "*" and other.sub_type != self.sub_type:
            return False
        if self.main_type != "*" and other.main_type != "*" and other.main_type != self.main_type:
            return False
        return True

    @property
    def precedence(self) -> int:
        if self.main_type == "*":
            return 0
        if self.sub_type == "*":
            return 1
        if not self.params or list(self.params) == ["q"]:
            return 2
        return 3


def media_type_matches(lhs: str, rhs: str) -> bool:
    return MediaType(lhs).match(MediaType(rhs))


@dataclass(frozen=True)
class Negotiated:
    """The accepted media type; only its ``indent`` parameter changes the JSON rendering."""

    accepted: str = JSON

    @cached_property
    def indent(self) -> int | None:
        try:
            _, params = parse_header_parameters(self.accepted)
            indent = max(min(int(params["indent"]), 8), 0)
        except (KeyError, ValueError, TypeError, LookupError):
            return None
        return indent or None


def _accept_tokens(header: str) -> list[str]:
    if len(header) > MAX_ACCEPT_HEADER_LENGTH:
        cut = header.rfind(",", 0, MAX_ACCEPT_HEADER_LENGTH)
        header = header[: cut + 1] if cut != -1 else ""
    tokens: list[str] = []
    for token in header.split(","):
        token = token.strip()
        if not token or len(token) > MAX_MEDIA_TYPE_LENGTH:
            continue
        tokens.append(token)
        if len(tokens) >= MAX_ACCEPT_TOKENS:
            break
    return tokens


def select_renderer(accept: str | None, format_param: str | None) -> Negotiated:
    """DRF's ``DefaultContentNegotiation.select_renderer`` with JSONRenderer as the only renderer.

    ``?format=`` other than ``json`` is a 404 (DRF raises ``Http404``); an ``Accept`` JSON cannot satisfy is
    a 406. Both happen before authentication, as in DRF's ``APIView.initial``.
    """
    if format_param and format_param != "json":
        raise NotFound()
    return _negotiate("*/*" if accept is None else accept)


@lru_cache(maxsize=256)
def _negotiate(accept: str) -> Negotiated:
    # Cached: clients send a handful of distinct Accept headers, parsed here once each (a 406 is not cached).
    renderer = MediaType(JSON)
    parsed = [MediaType(token) for token in _accept_tokens(accept)]
    buckets: list[list[MediaType]] = [[], [], [], []]
    for media_type in parsed:
        buckets[3 - media_type.precedence].append(media_type)
    for bucket in buckets:
        for media_type in bucket:
            if renderer.match(media_type):
                if renderer.precedence > media_type.precedence:
                    return Negotiated(";".join((JSON, *(f"{k}={v}" for k, v in media_type.params.items()))))
                return Negotiated(media_type.orig)
    raise NotAcceptable()


def select_parser(content_type: str, parsers: tuple[str, ...]) -> str | None:
    """The first of ``parsers`` (media types) matching ``content_type``, as DRF's ``select_parser``."""
    if content_type and len(content_type) > MAX_MEDIA_TYPE_LENGTH:
        return None
    for parser in parsers:
        if media_type_matches(parser, content_type):
            return parser
    return None
