"""Send one request to both apps and describe how the answers differ (status, body, relevant headers)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

from django.test import Client

from .testclient import TestClient

# Headers whose value must match (transport headers such as Content-Length and Date excluded).
COMPARED_HEADERS = (
    "content-type",
    "allow",
    "www-authenticate",
    "vary",
    "location",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
)


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | None = None
    content_type: str | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.headers or ''} {self.body!r}"[:200]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: dict[str, tuple[str, str]]  # name -> (value, max-age); a new CSRF secret's value as "<secret>"


def _cookie(name: str, value: str, max_age: object) -> tuple[str, str]:
    # A fresh CSRF secret is random: compare that one was set, not its value.
    if name == "csrftoken" and re.fullmatch(r"[a-zA-Z0-9]{32}", value):
        value = "<secret>"
    return value, str(max_age)


def _django_meta(headers: dict[str, str]) -> dict[str, str]:
    meta = {}
    for name, value in headers.items():
        if name.lower() == "cookie":
            continue
        meta["HTTP_" + name.upper().replace("-", "_")] = value
    return meta


def legacy(client: Client, call: Call) -> Answer:
    client.cookies = SimpleCookie()
    cookie = call.headers.get("Cookie")
    if cookie:
        client.cookies.load(cookie)
    data = call.body if call.body is not None else ""
    if isinstance(data, str):
        data = data.encode()
    extra = _django_meta(call.headers)
    kwargs = {"content_type": call.content_type} if call.content_type is not None else {}
    if call.body is None and call.content_type is None:
        kwargs["content_type"] = ""
    response = client.generic(call.method, call.path, data, **kwargs, **extra)
    headers = {k.lower(): v for k, v in response.headers.items()}
    cookies = {name: _cookie(name, m.value, m["max-age"]) for name, m in response.cookies.items()}
    return Answer(response.status_code, headers, response.content, cookies)


def modern(client: TestClient, call: Call) -> Answer:
    client.cookies.clear()
    # Header values travel as ISO-8859-1 bytes, as a WSGI server hands them to Django.
    headers: dict[str, str | bytes] = {k: v.encode("latin-1") for k, v in call.headers.items()}
    if call.content_type is not None:
        headers["Content-Type"] = call.content_type
    body = call.body.encode() if isinstance(call.body, str) else call.body
    response = client.request(call.method, call.path, headers=headers, content=body)
    out = {k.lower(): v for k, v in response.headers.items() if k.lower() != "set-cookie"}
    cookies: dict[str, tuple[str, str]] = {}
    for raw in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(raw)
        for name, morsel in parsed.items():
            cookies[name] = _cookie(name, morsel.value, morsel["max-age"])
    return Answer(response.status_code, out, response.content, cookies)


def differences(call: Call, old: Answer, new: Answer) -> list[str]:
    """Human-readable differences; empty when the answers are identical where it matters."""
    found = []
    if old.status != new.status:
        found.append(f"status {old.status} != {new.status}")
    if call.method != "HEAD" and old.body != new.body:
        found.append(f"body {old.body[:300]!r} != {new.body[:300]!r}")
    for name in COMPARED_HEADERS:
        if old.headers.get(name) != new.headers.get(name):
            found.append(f"header {name}: {old.headers.get(name)!r} != {new.headers.get(name)!r}")
    if old.cookies != new.cookies:
        found.append(f"cookies {old.cookies} != {new.cookies}")
    return found


def compare_all(legacy_client: Client, modern_client: TestClient, calls: list[Call]) -> list[str]:
    report = []
    for call in calls:
        diff = differences(call, legacy(legacy_client, call), modern(modern_client, call))
        if diff:
            report.append(f"{call}\n    " + "\n    ".join(diff))
    return report


def as_json(body: bytes) -> object:
    return json.loads(body)
