"""``request.data`` as DRF computes it with ``DEFAULT_PARSER_CLASSES = [JSONParser]``."""

from __future__ import annotations

import codecs
import io
import json
from typing import Any

from starlette.requests import Request

from .errors import ParseError, UnsupportedMediaType
from .rendering import parse_header_parameters

__all__ = ["request_data"]


def _strict_constant(o: str) -> Any:  # rest_framework.utils.json.strict_constant
    raise ValueError("Out of range float values are not JSON compliant: " + repr(o))


def _content_length(request: Request) -> int:
    # DRF's Request._load_stream: a missing or unreadable Content-Length means no body at all (a chunked
    # body included: gunicorn passes no CONTENT_LENGTH for it).
    try:
        return int(request.headers.get("content-length", 0))
    except (ValueError, TypeError):
        return 0


def _accepts(content_type: str) -> bool:
    # media_type_matches("application/json", content_type): JSONParser's type has no parameters.
    main, _, sub = parse_header_parameters(content_type)[0].partition("/")
    return sub in ("*", "json") and main in ("*", "application")


def _encoding(content_type: str) -> str:
    # Django's HttpRequest.encoding: the charset parameter when Python knows the codec, else utf-8.
    charset = parse_header_parameters(content_type)[1].get("charset")
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            return "utf-8"
        return charset
    return "utf-8"


async def request_data(request: Request) -> Any:
    """The parsed body: ``{}`` for none, else JSON; 415 for another type, 400 for malformed JSON."""
    content_type = request.headers.get("content-type", "")
    if _content_length(request) == 0:
        return {}
    if not _accepts(content_type):
        raise UnsupportedMediaType(content_type)
    body = await request.body()
    try:
        stream = codecs.getreader(_encoding(content_type))(io.BytesIO(body))
        return json.load(stream, parse_constant=_strict_constant)
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
