"""Hostile transport input through real nginx in front of the real apps, the route on legacy and on modern.

Sent to the apps directly, gunicorn answers 414/431/400 where uvicorn answers 200/401/404 (issue 11, item
4). Behind the front door, each request below must either be answered by nginx itself, with the same
status whichever backend the route names and without reaching an app (``X-Cutover-Backend: nginx``, from
``$upstream_addr``; the apps' own access logs are checked too), or reach the route's backend and get the
same status from both apps. gunicorn and uvicorn run with the command lines of ``cutover up``
(``cutover.stack``), gunicorn with the manifest's limits; the database is the test run's.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from cutover import stack
from cutover.database import child_env
from cutover.dburl import DatabaseURL, database_url_from_env
from cutover.proxy.apply import ProxyTarget, install_manifest
from cutover.proxy.manifest import set_route_mode
from cutover.proxy.nginx import Nginx

from .conftest import REPO, free_port, manifest_text, stop, wait_until_serving

# The demo manifest's [proxy] limits: gunicorn's defaults (test_manifest checks them).
LINE, FIELDS, FIELD_SIZE = 4094, 100, 8190
ME = b"/api/users/me/"  # the users-me route: 401 from both apps without credentials
DEMO = REPO / "migration_notes" / "routes.toml"
MOVED = ("users", "users-me", "user-detail")
# One request in each server's console access log (gunicorn's default format; uvicorn's).
ACCESS_LINE = {
    "legacy": re.compile(r'^\S+ - \S+ \[[^\]]+\] "', re.MULTILINE),
    "modern": re.compile(r'^INFO: +\S+ - "', re.MULTILINE),
}


@dataclass
class App:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def requests_logged(self) -> int:
        return len(ACCESS_LINE[self.name].findall(self.log.read_text(errors="replace")))


@dataclass
class Door:
    route_on: str
    nginx: Nginx
    port: int
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def apps(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[dict[str, App]]:
    with django_db_blocker.unblock():
        test_db = connection.settings_dict["NAME"]
    base = database_url_from_env()
    assert isinstance(base, DatabaseURL)
    env = child_env(base.with_name(test_db), CONN_MAX_AGE="0", PYTHONUNBUFFERED="1")
    config = stack.StackConfig(
        legacy_port=free_port(), legacy_workers=1, modern_port=free_port(), modern_workers=1, manifest=DEMO
    )
    logs = tmp_path_factory.mktemp("app-logs")
    started: dict[str, App] = {}
    try:
        for service, port in (
            (stack.legacy_service(config, env), config.legacy_port),
            (stack.modern_service(config, env), config.modern_port),
        ):
            log = logs / f"{service.name}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(service.argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
            started[service.name] = App(service.name, port, proc, log)
            wait_until_serving(f"http://127.0.0.1:{port}/api/users/", proc)
        yield started
    finally:
        for app in started.values():
            stop(app.proc)


@pytest.fixture(scope="module")
def doors(apps, tmp_path_factory) -> Iterator[dict[str, Door]]:
    """Two front doors from the demo manifest: the users routes on legacy, and moved to modern."""
    text = manifest_text(f"127.0.0.1:{apps['legacy'].port}", f"127.0.0.1:{apps['modern'].port}")
    moved = text
    for route_id in MOVED:
        moved = set_route_mode(moved, route_id, "modern", source="routes.toml")
    work = tmp_path_factory.mktemp("doors")
    started: dict[str, Door] = {}
    try:
        for route_on, manifest in (("legacy", text), ("modern", moved)):
            path = work / f"{route_on}.toml"
            path.write_text(manifest, encoding="utf-8")
            nginx = Nginx(work / f"nginx-{route_on}")
            port = free_port()
            install_manifest(path, nginx, ProxyTarget(listen=f"127.0.0.1:{port}"))
            started[route_on] = Door(route_on, nginx, port, nginx.start())
        yield started
    finally:
        for door in started.values():
            door.nginx.stop(door.proc)


@dataclass(frozen=True)
class Answer:
    status: int | None
    backend: str | None  # X-Cutover-Backend: legacy, modern, or nginx when no app was asked


def exchange(port: int, data: bytes) -> Answer:
    """Send raw bytes, read the final response's head (after any 100 Continue)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # nginx answered and closed before reading everything: the answer is still there
        received = b""
        try:
            while b"\r\n\r\n" not in received.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
    head = received.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n").split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/"):
        return Answer(None, None)
    fields = dict(line.split(b": ", 1) for line in lines[1:] if b": " in line)
    backend = fields.get(b"X-Cutover-Backend")
    return Answer(int(lines[0].split(b" ")[1]), backend.decode() if backend else None)


HOST = b"Host: 127.0.0.1\r\n"


def get(target: bytes = ME, headers: bytes = b"", line: bytes | None = None) -> bytes:
    return (line or b"GET " + target + b" HTTP/1.1") + b"\r\n" + HOST + headers + b"\r\n"


def line_of(length: int, prefix: bytes = b"GET ") -> bytes:
    """A GET of users-me whose request line, as nginx forwards it, is ``length`` bytes."""
    fill = length - len(b"GET " + ME + b"?q= HTTP/1.1")
    return prefix + ME + b"?q=" + b"a" * fill + b" HTTP/1.1"


def fields(count: int, line: bytes = b"X-Field-%d: v\r\n") -> bytes:
    return b"".join(line % i if b"%d" in line else line for i in range(count))


def field_of(size: int, name: bytes = b"X-Big", fill: bytes = b"a") -> bytes:
    """One header whose forwarded line ("Name: value" and CRLF) is ``size`` bytes."""
    value = fill * ((size - len(name) - 4) // len(fill))
    assert len(name) + len(value) + 4 == size
    return name + b": " + value + b"\r\n"


# Forwarded by nginx with each client field except those it replaces, plus Host, X-Forwarded-For,
# X-Forwarded-Proto, X-Forwarded-Host it sets (and Content-Length with a body).
ADDED = 4
BIG_BODY = 20 * 1024 * 1024

NGINX = "nginx"  # answered by nginx, whatever the backend
APPS = "apps"  # reaches the route's backend; both apps answer the same

# id: (raw request, who answers, the status when nginx does)
CASES: dict[str, tuple[bytes, str, int | None]] = {
    # the request line, as forwarded: "GET <target> HTTP/1.1" (gunicorn: limit_request_line, 414)
    "line-at-limit": (get(line=line_of(LINE)), APPS, None),
    "line-over-limit": (get(line=line_of(LINE + 1)), NGINX, 414),
    "line-at-gunicorn-max": (get(line=line_of(8190)), NGINX, 414),
    "line-past-nginx-buffers": (get(line=line_of(40_000)), NGINX, 414),
    # an absolute-form target is forwarded as its path: the client's longer line is not what counts
    "absolute-form-line-at-limit": (
        get(line=line_of(LINE).replace(b"GET /", b"GET http://127.0.0.1/")),
        APPS,
        None,
    ),
    # header fields as forwarded (gunicorn: limit_request_fields, 431)
    "fields-at-limit": (get(headers=fields(FIELDS - ADDED)), APPS, None),
    "fields-over-limit": (get(headers=fields(FIELDS - ADDED + 1)), NGINX, 431),  # 98 sent, 101 forwarded
    "fields-over-limit-in-shortest-lines": (
        get(headers=fields(FIELDS - ADDED + 1, b"a:\r\n")).replace(b"\r\n", b"\n"),
        NGINX,
        431,
    ),
    "replaced-fields-do-not-count": (
        get(
            headers=fields(FIELDS - ADDED)
            + b"Connection: keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Forwarded-For: 10.0.0.1\r\n"
            + b"X-Forwarded-Proto: http\r\nX-Forwarded-Host: 127.0.0.1\r\n"
        ),
        APPS,
        None,
    ),
    "fields-with-body-over-limit": (
        b"POST /api/users/ HTTP/1.1\r\n"
        + HOST
        + fields(FIELDS - ADDED - 1)
        + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        NGINX,
        431,
    ),
    "fields-with-body-at-limit": (
        b"POST /api/users/ HTTP/1.1\r\n"
        + HOST
        + fields(FIELDS - ADDED - 2)
        + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        APPS,
        None,
    ),
    # the largest head gunicorn accepts fits nginx's buffers (large_client_header_buffers)
    "largest-head-gunicorn-accepts": (
        get(headers=b"".join(field_of(FIELD_SIZE, b"X-Big%02d" % i) for i in range(FIELDS - ADDED))),
        APPS,
        None,
    ),
    # one field line as forwarded (gunicorn: limit_request_field_size, with its CRLF, 431)
    "field-at-limit": (get(headers=field_of(FIELD_SIZE)), APPS, None),
    "field-over-limit": (get(headers=field_of(FIELD_SIZE + 1)), NGINX, 431),
    "field-of-20k": (get(headers=field_of(20_000)), NGINX, 431),
    "field-without-spaces-forwarded-at-limit": (
        get(headers=field_of(FIELD_SIZE).replace(b"X-Big: ", b"X-Big:")),
        APPS,
        None,
    ),
    "field-without-spaces-forwarded-over-limit": (
        get(headers=field_of(FIELD_SIZE + 1).replace(b"X-Big: ", b"X-Big:")),
        NGINX,
        431,
    ),
    "obs-text-field-at-limit": (get(headers=field_of(FIELD_SIZE, fill=b"\xe9")), APPS, None),
    "obs-text-field-over-limit": (get(headers=field_of(FIELD_SIZE + 1, fill=b"\xe9")), NGINX, 431),
    "utf8-field-at-limit": (get(headers=field_of(FIELD_SIZE, b"X-Bigg", b"\xc3\xa9")), APPS, None),
    "utf8-field-over-limit": (get(headers=field_of(FIELD_SIZE + 1, b"X-Big", b"\xc3\xa9")), NGINX, 431),
    # the X-Forwarded-For nginx sends is the client's plus ", 127.0.0.1"
    "forwarded-for-at-limit": (
        get(headers=field_of(FIELD_SIZE - len(b", 127.0.0.1"), b"X-Forwarded-For", b"1")),
        APPS,
        None,
    ),
    "forwarded-for-over-limit": (
        get(headers=field_of(FIELD_SIZE + 1 - len(b", 127.0.0.1"), b"X-Forwarded-For", b"1")),
        NGINX,
        431,
    ),
    # the client's Host comes back as X-Forwarded-Host, 12 bytes longer than the Host line
    "forwarded-host-over-limit": (
        b"GET /api/users/me/ HTTP/1.1\r\nHost: " + b"h" * (FIELD_SIZE + 1 - 20) + b"\r\n\r\n",
        NGINX,
        431,
    ),
    # HTTP/1.0 needs no Host header: an absolute-form target's host becomes Host and X-Forwarded-Host
    "absolute-form-host-over-limit": (
        b"GET http://" + b"h" * (FIELD_SIZE + 1 - 20) + ME + b" HTTP/1.0\r\n\r\n",
        NGINX,
        431,
    ),
    # a browser's head, well within the limits (njs decides from lengths alone)
    "browser-like-head": (
        get(
            headers=b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0\r\n"
            + b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
            + b"Accept-Language: en-US,en;q=0.9\r\nCookie: "
            + b"; ".join(b"c%d=%s" % (i, b"v" * 60) for i in range(25))
            + b"\r\n"
        ),
        APPS,
        None,
    ),
    # malformed request lines: nginx refuses them, or rebuilds the line it forwards
    "http-2.0": (get(line=b"GET " + ME + b" HTTP/2.0"), NGINX, 505),
    "http-1.2": (get(line=b"GET " + ME + b" HTTP/1.2"), APPS, None),
    "double-space-before-target": (get(line=b"GET  " + ME + b" HTTP/1.1"), APPS, None),
    "double-space-before-version": (get(line=b"GET " + ME + b"  HTTP/1.1"), APPS, None),
    "leading-crlf": (b"\r\n" + get(), APPS, None),
    "two-leading-crlf": (b"\r\n\r\n" + get(), APPS, None),
    "bare-lf": (get().replace(b"\r\n", b"\n"), APPS, None),
    "lowercase-method": (get(line=b"get " + ME + b" HTTP/1.1"), NGINX, 400),
    "absolute-form": (get(line=b"GET http://127.0.0.1" + ME + b" HTTP/1.1"), APPS, None),
    "two-letter-method": (get(line=b"GE " + ME + b" HTTP/1.1"), NGINX, 400),
    "21-letter-method": (get(line=b"A" * 21 + b" " + ME + b" HTTP/1.1"), NGINX, 400),
    "non-ascii-target": (get(line=b"GET " + ME + b"?q=\xc3\xa9 HTTP/1.1"), NGINX, 400),
    "asterisk-target": (get(line=b"OPTIONS * HTTP/1.1"), NGINX, 400),
    # expectations: gunicorn answers 417 to anything but 100-continue
    "expect-garbage": (get(headers=b"Expect: garbage\r\n"), NGINX, 417),
    "expect-100-continue": (
        b"POST /api/users/ HTTP/1.1\r\n"
        + HOST
        + b"Expect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        APPS,
        None,
    ),
    # gunicorn reads the scheme from these too and refuses one contradicting X-Forwarded-Proto
    "x-forwarded-ssl": (get(headers=b"X-Forwarded-Ssl: on\r\n"), APPS, None),
    "x-forwarded-protocol": (get(headers=b"X-Forwarded-Protocol: ssl\r\n"), APPS, None),
    # a body over client_max_body_size (10m in the demo manifest); only its first bytes are sent
    "body-over-limit": (
        b"POST /api/users/ HTTP/1.1\r\n"
        + HOST
        + b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % BIG_BODY
        + b"a" * 65536,
        NGINX,
        413,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_backends_see_the_same_request_or_nginx_answers(case, doors):
    data, who, status = CASES[case]
    on_legacy, on_modern = (exchange(doors[name].port, data) for name in ("legacy", "modern"))
    if who == NGINX:
        assert (on_legacy.status, on_modern.status) == (status, status)
        assert (on_legacy.backend, on_modern.backend) == (NGINX, NGINX)
    else:
        assert (on_legacy.backend, on_modern.backend) == ("legacy", "modern")
        assert on_legacy.status == on_modern.status and on_legacy.status is not None


def test_an_unknown_method_reaches_the_routes_backend_unchanged(doors):
    """A method token gunicorn accepts is not the front door's to refuse: Django answers it (here 401,
    before DRF would say 405). Whether the port answers the same is the port's business."""
    data = get(line=b"FOO " + ME + b" HTTP/1.1")
    on_legacy, on_modern = (exchange(doors[name].port, data) for name in ("legacy", "modern"))
    assert (on_legacy.backend, on_modern.backend) == ("legacy", "modern")
    assert on_legacy.status == 401


def _logged_after(app: App, offset: int) -> list[str]:
    """The access lines the app has written past byte ``offset`` of its log."""
    with app.log.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return [match.group(0) for match in re.finditer(ACCESS_LINE[app.name].pattern + ".*", text, re.MULTILINE)]


def _wait_logged(apps: dict[str, App], offsets: dict[str, int], tag: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(any(tag in line for line in _logged_after(app, offsets[name])) for name, app in apps.items()):
            return
        time.sleep(0.05)
    raise AssertionError(f"{tag} not logged by every app within 10 s")


def test_what_nginx_refuses_never_reaches_an_app(apps, doors):
    """The apps' own access logs: only the marker requests sent after the refused ones appear.

    A fence request, sent to each app directly and waited for in its log, first lets any line still owed
    by an earlier test be written (gunicorn logs a request after its response is sent), so that what is
    read afterwards is this test's alone."""
    refused = [data for data, who, _ in CASES.values() if who == NGINX]
    fence = f"fence-{time.monotonic_ns()}"
    start = {name: app.log.stat().st_size for name, app in apps.items()}
    for app in apps.values():
        exchange(app.port, get(ME + b"?" + fence.encode()))
    _wait_logged(apps, start, fence)
    time.sleep(0.3)  # a late line from before the fence would be written by now
    offsets = {name: app.log.stat().st_size for name, app in apps.items()}
    marker = f"marker-{time.monotonic_ns()}"
    for door in doors.values():
        for data in refused:
            exchange(door.port, data)
        assert exchange(door.port, get(ME + b"?" + marker.encode())).backend == door.route_on
    _wait_logged(apps, offsets, marker)
    time.sleep(0.3)  # anything that did reach an app would be logged by now
    logged = {name: _logged_after(app, offsets[name]) for name, app in apps.items()}
    assert {name: [line for line in lines if marker not in line] for name, lines in logged.items()} == {
        "legacy": [],
        "modern": [],
    }
    assert {name: len(lines) for name, lines in logged.items()} == {"legacy": 1, "modern": 1}
