"""DRF's JSON parser, hardened: a body nested too deeply to decode is a 400, not a 500.

DRF's JSONParser turns ValueError into ParseError but lets RecursionError escape (json's C decoder raises it
for about a thousand levels of nesting), which Django answers with a 500.
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
