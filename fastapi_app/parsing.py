"""Request bodies parsed as DRF parses them (``Request._parse`` and its JSON, form and multipart parsers).

Bodies are read asynchronously first; parsing the bytes is synchronous and bounded by Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE``, which is enforced here too.
"""

from __future__ import annotations

import codecs
import io
import json
from email.message import Message
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from .errors import APIException, ParseError, UnsupportedMediaType
from .negotiation import FORM, JSON, MULTIPART, parse_header_parameters, select_parser

__all__ = ["DATA_UPLOAD_MAX_MEMORY_SIZE", "RequestDataTooBig", "parse_body", "read_body"]

DATA_UPLOAD_MAX_MEMORY_SIZE = 2621440  # Django's default, 2.5 MB


class RequestDataTooBig(APIException):
    """Django's ``RequestDataTooBig`` (a SuspiciousOperation): its HTML 400 page, not a DRF body."""

    status_code = 400
    html_page = True


def _encoding(content_type: str) -> str:
    # HttpRequest.encoding: the charset parameter when Python knows it, else DEFAULT_CHARSET.
    try:
        _, params = parse_header_parameters(content_type)
    except (ValueError, LookupError):
        params = {}
    charset = params.get("charset")
    if charset:
        try:
            codecs.lookup(charset)
            return charset
        except LookupError:
            pass
    return "utf-8"


def _text_encoding(content_type: str) -> str:
    # rest_framework.parsers.get_encoding: only text codecs.
    encoding = _encoding(content_type)
    try:
        "".encode(encoding)
    except (LookupError, UnicodeError):
        raise ParseError(f'Unsupported charset "{encoding}" in request Content-Type header.') from None
    return encoding


def _parse_json(body: bytes, content_type: str) -> Any:
    encoding = _text_encoding(content_type)
    try:
        decoded = codecs.getreader(encoding)(io.BytesIO(body))
        return json.load(decoded, parse_constant=_strict_constant)
    except (ValueError, RecursionError) as exc:
        # The legacy's hardened JSONParser (legacy_django/parsers.py): too deep a nesting is a 400 as well.
        raise ParseError(f"JSON parse error - {exc}") from None


def _strict_constant(value: str) -> Any:
    # rest_framework.utils.json.strict_constant
    raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")


def _parse_form(body: bytes, content_type: str) -> dict[str, str]:
    encoding = _text_encoding(content_type)
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        text = body.decode("iso-8859-1")
    # A QueryDict; fields read one value each, the last one (QueryDict.__getitem__).
    return dict(parse_qsl(text, keep_blank_values=True, encoding=encoding))


def _parse_multipart(body: bytes, content_type: str) -> dict[str, str]:
    _, params = parse_header_parameters(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise ParseError(f"Multipart form parse error - Invalid boundary in multipart: {boundary}")
    message = BytesParser().parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    data: dict[str, str] = {}
    if not message.is_multipart():
        return data
    parts: list[Message] = message.get_payload()  # type: ignore[assignment]
    for part in parts:
        if part.get_param("filename", header="content-disposition") is not None:
            continue  # files are not fields
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            raw = payload if isinstance(payload, bytes) else b""
            data[name] = raw.decode(_encoding(content_type), errors="replace")
    return data


_PARSERS = {JSON: _parse_json, FORM: _parse_form, MULTIPART: _parse_multipart}


async def read_body(request: Request, parsers: tuple[str, ...]) -> bytes:
    """The body as DRF will see it: nothing unless ``Content-Length`` announces some bytes.

    DRF selects the parser before it reads a byte (``Request._parse``): a media type no parser takes is a
    415 whatever the size, and only then does Django's size limit apply (``HttpRequest.body``)."""
    try:
        length = int(request.headers.get("content-length", "0"))
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    content_type = request.headers.get("content-type") or ""
    if select_parser(content_type, parsers) is None:
        raise UnsupportedMediaType(content_type)
    if length > DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
    return await request.body()


def parse_body(body: bytes, content_type: str | None, parsers: tuple[str, ...]) -> Any:
    """``request.data``: ``{}`` for an empty body, else the matching parser's result (415 if none)."""
    content_type = content_type or ""
    if not body:
        return {}
    parser = select_parser(content_type, parsers)
    if parser is None:
        raise UnsupportedMediaType(content_type)
    return _PARSERS[parser](body, content_type)
