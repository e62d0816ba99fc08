"""A benchmark scenario as a request template: placeholders filled per request, in Python and in wrk's Lua.

A scenario (``[[bench.scenarios]]``) is one request: method, path, optional JSON body, optional identity.
Its path and the strings of its body may hold placeholders, filled for every request:

- ``{n}``: the request's number in its wrk thread (1, 2, ...);
- ``{unique}``: a string of letters and digits unique to the request in the whole run (run, target,
  level, wrk thread and ``{n}``): what a sign-up needs for a new username;
- ``{NAME}``: a value of the dataset (``[bench] dataset``): a string or number, the same in every
  request; or a list, whose items the requests take in turn (each wrk thread from its own offset).

Values are percent-encoded in the path and JSON-escaped in the body; other braces stay as written. The
same template renders the preflight's one request (in Python) and the load (as a Lua table read by
``scripts/scenario.lua``), so what is checked is what is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..config import BenchScenario
from ..errors import CutoverError

__all__ = [
    "BUILTIN",
    "Plain",
    "Request",
    "Scenario",
    "Slot",
    "Template",
    "Values",
    "check_values",
    "title",
]

BUILTIN = ("n", "unique")
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# One value, or a list the requests take in turn.
Value = str | int | float
Values = Mapping[str, Value | Sequence[Value]]
_SENTINEL = re.compile(r"\\u0000(\d+)\\u0000")


@dataclass(frozen=True)
class Plain:
    text: str


@dataclass(frozen=True)
class Slot:
    name: str


Part = Plain | Slot


@dataclass(frozen=True)
class Template:
    """Literal text and placeholders, in order; ``encode`` says how a value is written into the text."""

    parts: tuple[Part, ...]
    encode: str  # "path": percent-encoded; "json": escaped as inside a JSON string

    @classmethod
    def path(cls, text: str) -> Template:
        return cls(_split(text), "path")

    @classmethod
    def body(cls, body: Mapping[str, Any]) -> Template:
        """The body as compact JSON, with the placeholders of its strings left as slots."""
        slots: list[str] = []

        def slot(found: re.Match[str]) -> str:
            # A NUL around an index survives json.dumps as \u0000, which no real string holds.
            slots.append(found[1])
            return f"\x00{len(slots) - 1}\x00"

        def mark(value: Any) -> Any:
            if isinstance(value, str):
                return PLACEHOLDER.sub(slot, value)
            if isinstance(value, Mapping):
                return {k: mark(v) for k, v in value.items()}
            if isinstance(value, list):
                return [mark(v) for v in value]
            return value

        text = json.dumps(mark(body), ensure_ascii=False, separators=(",", ":"))
        parts: list[Part] = []
        at = 0
        for found in _SENTINEL.finditer(text):
            if found.start() > at:
                parts.append(Plain(text[at : found.start()]))
            parts.append(Slot(slots[int(found[1])]))
            at = found.end()
        if at < len(text):
            parts.append(Plain(text[at:]))
        return cls(tuple(parts), "json")

    @property
    def names(self) -> set[str]:
        return {p.name for p in self.parts if isinstance(p, Slot)}

    def written(self, value: Value) -> str:
        text = str(value)
        return quote(text, safe="") if self.encode == "path" else json.dumps(text, ensure_ascii=False)[1:-1]

    def render(self, values: Mapping[str, Value]) -> str:
        return "".join(p.text if isinstance(p, Plain) else self.written(values[p.name]) for p in self.parts)


def _split(text: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    at = 0
    for found in PLACEHOLDER.finditer(text):
        if found.start() > at:
            parts.append(Plain(text[at : found.start()]))
        parts.append(Slot(found[1]))
        at = found.end()
    if at < len(text):
        parts.append(Plain(text[at:]))
    return tuple(parts)


def check_values(raw: Any, where: str) -> dict[str, Value | list[Value]]:
    """The dataset's values, checked: names as placeholders have them, strings or numbers or their lists."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise CutoverError(f"{where} must return a mapping of placeholder names to values, got {raw!r:.80}")
    out: dict[str, Value | list[Value]] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in BUILTIN:
            raise CutoverError(
                f"{where}: {name!r} is not a placeholder name (lowercase letters, digits, _; "
                f"not {', '.join(BUILTIN)})"
            )
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in items):
            raise CutoverError(
                f"{where}: {name} must be a string, a number or a non-empty list of them, got {value!r:.80}"
            )
        out[name] = list(value) if isinstance(value, list) else value
    return out


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: str | None


@dataclass(frozen=True)
class Scenario:
    """A configured scenario made concrete: its templates, the dataset's values, its credential headers."""

    config: BenchScenario
    path: Template
    body: Template | None
    values: Mapping[str, Value | Sequence[Value]]
    headers: tuple[tuple[str, str], ...]  # the identity's (credential, cookie, CSRF), then Content-Type

    @classmethod
    def make(
        cls,
        config: BenchScenario,
        values: Mapping[str, Value | Sequence[Value]],
        credential: Sequence[tuple[str, str]] = (),
        where: str = "the project config",
    ) -> Scenario:
        path = Template.path(config.path)
        body = Template.body(config.body) if config.body is not None else None
        used = path.names | (body.names if body else set())
        unknown = sorted(used - set(values) - set(BUILTIN))
        if unknown:
            known = ", ".join([*BUILTIN, *sorted(values)])
            raise CutoverError(
                f"{where}: bench scenario {config.name!r} uses {{{unknown[0]}}}, which is neither built in "
                f"nor a value of the dataset ([bench] dataset); known: {known}"
            )
        headers = list(credential)
        if body is not None:
            headers.append(("Content-Type", "application/json"))
        return cls(config, path, body, {k: v for k, v in values.items() if k in used}, tuple(headers))

    @property
    def name(self) -> str:
        return self.config.name

    def request(self, unique: str, n: int = 1) -> Request:
        """The request number ``n`` as the load sends it, the lists' first items, ``{unique}`` given."""
        values: dict[str, Value] = {"n": n, "unique": unique}
        for name, value in self.values.items():
            values[name] = _items(value)[0]
        return Request(
            self.config.method,
            self.path.render(values),
            self.headers,
            self.body.render(values) if self.body is not None else None,
        )

    def lua(self, prefix: str) -> str:
        """The Lua table ``scripts/scenario.lua`` reads: the templates, headers, lists, the run's prefix."""
        lists: list[str] = []
        index: dict[tuple[str, str], int] = {}

        def parts(template: Template) -> str:
            out = []
            for part in template.parts:
                if isinstance(part, Plain):
                    out.append(_lua(part.text))
                elif part.name in BUILTIN:
                    out.append("{" + _lua(part.name) + "}")
                else:
                    key = (part.name, template.encode)
                    if key not in index:
                        items = _items(self.values[part.name])
                        lists.append("{" + ",".join(_lua(template.written(v)) for v in items) + "}")
                        index[key] = len(lists)
                    out.append("{" + str(index[key]) + "}")
            return "{" + ",".join(out) + "}"

        path = parts(self.path)
        body = parts(self.body) if self.body is not None else "nil"
        headers = ",".join(f"[{_lua(k)}]={_lua(v)}" for k, v in self.headers)
        return (
            f"scenario = {{method={_lua(self.config.method)}, path={path}, body={body}, "
            f"headers={{{headers}}}, lists={{{','.join(lists)}}}, prefix={_lua(prefix)}}}\n"
        )


def _items(value: Value | Sequence[Value]) -> list[Value]:
    return list(value) if isinstance(value, list | tuple) else [value]  # type: ignore[list-item]


def _lua(text: str) -> str:
    # A Lua string literal: printable ASCII as it is, every other byte as a decimal escape.
    out = []
    for byte in text.encode():
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def title(scenario: Mapping[str, Any] | BenchScenario) -> str:
    """How the report names a scenario: ``GET /api/things/{id}/ as token:alice``."""
    raw = scenario if isinstance(scenario, Mapping) else scenario_record(scenario)
    text = f"{raw.get('method', 'GET')} {raw.get('path', '?')}"
    return text + (f" as {raw['identity']}" if raw.get("identity") else "")


def scenario_record(scenario: BenchScenario, *, headline: bool = False) -> dict[str, Any]:
    """What a results file keeps of a scenario (the report's titles and headline come from it)."""
    return {
        "name": scenario.name,
        "method": scenario.method,
        "path": scenario.path,
        "identity": scenario.identity,
        "status": scenario.status,
        "headline": headline,
    }
