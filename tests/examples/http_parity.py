"""One request to both apps, and what a client can observe of each answer, compared.

Compared: the status; the headers that matter (``Content-Type``, ``Allow``, ``WWW-Authenticate``,
``Location``, ``Vary`` and the security headers Django's middleware adds); the body, as bytes, after
one normalisation: a timestamp within a minute of now (a product just created) becomes ``<now>``, with
its rendering shape kept, so ``+00:00`` for ``Z`` is still a difference. Equal bytes mean equal JSON,
key order and number formatting included.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

HEADERS = (
    "content-type",
    "allow",
    "www-authenticate",
    "location",
    "vary",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
)
# The front door's address as both apps see it behind nginx: their absolute URLs (pagination) use it.
FRONT_DOOR = "127.0.0.1:8000"
_TIMESTAMP = re.compile(rb'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d))"')


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    json: Any = None

    def send(self, client: httpx.Client, base_url: str) -> httpx.Response:
        headers = {"Host": FRONT_DOOR, **self.headers}
        content = self.body
        if self.json is not None:
            content = json.dumps(self.json).encode()
            headers.setdefault("Content-Type", "application/json")
        return client.request(self.method, base_url + self.path, headers=headers, content=content)


@dataclass(frozen=True)
class Observation:
    status: int
    headers: dict[str, str | None]
    body: bytes

    def differences(self, other: Observation) -> list[str]:
        diffs = []
        if self.status != other.status:
            diffs.append(f"status: legacy {self.status}, modern {other.status}")
        for name in HEADERS:
            if self.headers[name] != other.headers[name]:
                diffs.append(f"header {name}: legacy {self.headers[name]!r}, modern {other.headers[name]!r}")
        if self.body != other.body:
            diffs.append(f"body:\n  legacy {self.body[:2000]!r}\n  modern {other.body[:2000]!r}")
        return diffs


def _now_stamps(body: bytes) -> bytes:
    now = datetime.now(UTC)

    def replace(match: re.Match[bytes]) -> bytes:
        text = match.group(1).decode()
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if abs(when - now) > timedelta(minutes=1):
            return match.group(0)
        shape = re.sub(r"\d", "d", text)
        return f'"<now {shape}>"'.encode()

    return _TIMESTAMP.sub(replace, body)


def observe(response: httpx.Response) -> Observation:
    headers = {name: (", ".join(response.headers.get_list(name)) or None) for name in HEADERS}
    return Observation(response.status_code, headers, _now_stamps(response.content))


def differences(legacy: httpx.Response, modern: httpx.Response) -> list[str]:
    return observe(legacy).differences(observe(modern))
