"""Raw HTTP/1.1 to the real servers (gunicorn + Django, uvicorn + the port): what only a socket can send,
duplicated and odd headers, unknown methods, ``Expect``, bodies the view should never read, and the
answers compared (status, JSON or page body, the headers that matter).

Django's test client cannot repeat a header (``META`` is a dict) and knows nothing of gunicorn, so these
cases are here and not in ``test_differential.py``.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from rest_framework.authtoken.models import Token

from legacy_django.users.models import User

from .compare import COMPARED_HEADERS
from .live import Connection, LiveServers, RawResponse, exchange, request_bytes

pytestmark = pytest.mark.django_db(transaction=True)

JSON = "application/json"


@pytest.fixture
def world(make_user, django_session_cookie, csrf_pair):
    alice = make_user(username="alice", email="alice@example.com")
    make_user(username="bob", email="bob@example.com")
    secret, masked = csrf_pair
    return {
        "alice": alice,
        "token": Token.objects.create(user=alice).key,
        "other_token": Token.objects.create(user=User.objects.get(username="bob")).key,
        "session": django_session_cookie(alice),
        "csrf": (secret, masked),
    }


def cookies(response: RawResponse) -> dict[str, tuple[str, str]]:
    out = {}
    for name, value in response.headers:
        if name.lower() == "set-cookie":
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(value)
            out.update(
                {k: (m.value if k != "csrftoken" else "<secret>", m["max-age"]) for k, m in parsed.items()}
            )
    return out


def differences(legacy: RawResponse, modern: RawResponse) -> list[str]:
    found = []
    if legacy.status != modern.status:
        found.append(f"status {legacy.status} != {modern.status}")
    if legacy.body != modern.body:
        found.append(f"body {legacy.body[:300]!r} != {modern.body[:300]!r}")
    for name in (*COMPARED_HEADERS, "connection"):
        old, new = legacy.header(name), modern.header(name)
        if name == "connection":  # gunicorn says keep-alive where uvicorn says nothing; "close" must agree
            old, new = old == "close", new == "close"
        if old != new:
            found.append(f"header {name}: {old!r} != {new!r}")
    if cookies(legacy) != cookies(modern):
        found.append(f"cookies {cookies(legacy)} != {cookies(modern)}")
    return found


def compare(live: LiveServers, requests: dict[str, bytes]) -> None:
    report = []
    for name, data in requests.items():
        method = data.split(b" ", 1)[0].decode("latin-1")
        answers = [exchange(port, data, method) for port in (live.legacy, live.modern)]
        if diff := differences(*answers):
            report.append(f"{name}: {answers[0]!r}\n    " + "\n    ".join(diff))
    assert not report, f"{len(report)} of {len(requests)} requests differ:\n" + "\n".join(report)


def test_duplicated_headers_are_judged_as_django_judges_them_under_gunicorn(live, world):
    token, other = world["token"], world["other_token"]
    secret, masked = world["csrf"]
    session = world["session"]
    signup = (
        b'{"username": "newbie", "email": "newbie@example.com", "password": "a-long-unusual-passphrase-42"}'
    )
    me, users = "/api/users/me/", "/api/users/?page_size=1"
    requests = {
        "the same token twice": request_bytes("GET", me, [("Authorization", f"Token {token}")] * 2),
        "two tokens": request_bytes(
            "GET", me, [("Authorization", f"Token {token}"), ("Authorization", f"Token {other}")]
        ),
        "a token after another scheme": request_bytes(
            "GET", me, [("Authorization", "Bearer x"), ("Authorization", f"Token {token}")]
        ),
        "a token twice on a sign-up": request_bytes(
            "POST", "/api/users/", [("Content-Type", JSON)] + [("Authorization", f"Token {token}")] * 2, signup
        ),
        "the session and the CSRF cookie in two lines": request_bytes(
            "GET", me, [("Cookie", f"sessionid={session}"), ("Cookie", f"csrftoken={secret}")]
        ),
        "the session in one line": request_bytes("GET", me, [("Cookie", f"sessionid={session}")]),
        "an unsafe session request with split cookies": request_bytes(
            "DELETE",
            f"/api/users/{world['alice'].pk}/",
            [("Cookie", f"sessionid={session}"), ("Cookie", f"csrftoken={secret}"), ("X-CSRFToken", masked)],
        ),
        "two accepts": request_bytes(
            "GET", me, [("Authorization", f"Token {token}"), ("Accept", "text/html"), ("Accept", "application/json")]
        ),
        "two accepts, one indented": request_bytes(
            "GET", me, [("Authorization", f"Token {token}"), ("Accept", "application/json; indent=2"), ("Accept", "*/*")]
        ),
        "two accepts, none JSON": request_bytes(
            "GET", me, [("Authorization", f"Token {token}"), ("Accept", "text/html"), ("Accept", "text/csv")]
        ),
        "two content types": request_bytes(
            "POST", "/api/users/", [("Content-Type", JSON), ("Content-Type", JSON)], signup
        ),
        "two hosts": request_bytes("GET", users, [("Authorization", f"Token {token}"), ("Host", "localhost")]),
        "two content lengths": request_bytes(
            "POST", "/api/users/", [("Content-Type", JSON), ("Content-Length", "2"), ("Content-Length", "2")], b"{}"
        ),
        "an underscore header": request_bytes(
            "GET", users, [("Authorization", f"Token {token}"), ("X_Forwarded_Host", "evil.example.com")]
        ),
        "an underscore twin": request_bytes(
            "GET",
            users,
            [("Authorization", f"Token {token}"), ("X-Forwarded-Host", "localhost"), ("X_Forwarded_Host", "x.com")],
        ),
        "trailing blanks": request_bytes(
            "GET", users, [("Authorization", f"Token {token} "), ("X-Forwarded-Host", "localhost:8000  ")]
        ),
        "two forwarded protos": request_bytes(
            "GET",
            users,
            [("Authorization", f"Token {token}"), ("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")],
        ),
        "ssl on": request_bytes("GET", users, [("Authorization", f"Token {token}"), ("X-Forwarded-Ssl", "on")]),
        "contradictory scheme headers": request_bytes(
            "GET",
            users,
            [("Authorization", f"Token {token}"), ("X-Forwarded-Ssl", "on"), ("X-Forwarded-Proto", "http")],
        ),
    }  # fmt: skip
    compare(live, requests)
    assert not User.objects.filter(username="newbie").exists()


def test_methods_gunicorn_takes_get_drfs_answer_and_the_others_its_refusal(live, world):
    token = world["token"]
    auth = [("Authorization", f"Token {token}")]
    pk = world["alice"].pk
    requests = {
        "unknown, anonymous": request_bytes("FOO", "/api/users/"),
        "unknown, authenticated": request_bytes("FOO", "/api/users/", auth),
        "unknown on me": request_bytes("FROB", "/api/users/me/", auth),
        "unknown on a user, with a body": request_bytes("FOO", f"/api/users/{pk}/", [*auth, ("Content-Type", JSON)], b"{}"),
        "unknown on the token view": request_bytes("FOO", "/api/auth/token/"),
        "unknown, no such URL": request_bytes("FOO", "/nope/", auth),
        "unknown, no slash": request_bytes("FOO", "/api/users", auth),
        "an RTSP method": request_bytes("DESCRIBE", "/api/users/", auth),
        "PRI over HTTP/1.1": request_bytes("PRI", "/api/users/", auth),
        "twenty characters": request_bytes("A" * 20, "/api/users/", auth),
        "lower case": request_bytes("foo", "/api/users/", auth),
        "mixed case": request_bytes("Get", "/api/users/", auth),
        "too short": request_bytes("GE", "/api/users/", auth),
        "too long": request_bytes("A" * 21, "/api/users/", auth),
        "a hash": request_bytes("F#O", "/api/users/", auth),
        "known, for comparison": request_bytes("TRACE", "/api/users/", auth),
    }  # fmt: skip
    compare(live, requests)


def test_unknown_methods_on_one_connection_kept_alive_and_pipelined(live, world):
    auth = [("Authorization", f"Token {world['token']}")]
    sequence = [
        request_bytes("GET", "/api/users/me/", auth),
        request_bytes("FOO", "/api/users/", auth),
        request_bytes(
            "POST", "/api/auth/token/", [("Content-Type", JSON)], b'{"username": "x", "password": "y"}'
        ),
        request_bytes("BAR", "/api/users/me/", [*auth, ("Content-Type", JSON)], b'{"a": 1}'),
        request_bytes("GET", "/api/users/me/", auth),
    ]
    for mode in ("one by one", "pipelined"):
        answers: dict[str, list[tuple[int, bytes]]] = {}
        for app, port in live.ports.items():
            with Connection(port) as conn:
                if mode == "pipelined":
                    conn.send(b"".join(sequence))
                got = []
                for data in sequence:
                    if mode == "one by one":
                        conn.send(data)
                    response = conn.read(data.split(b" ", 1)[0].decode())
                    got.append((response.status, response.body))
                answers[app] = got
        assert answers["legacy"] == answers["modern"], mode
        assert [status for status, _ in answers["modern"]] == [200, 405, 400, 405, 200]


def test_an_expectation_other_than_100_continue_is_refused_with_417(live, world):
    auth = [("Authorization", f"Token {world['token']}")]
    body = b'{"username": "x", "password": "y"}'
    requests = {
        "on a GET": request_bytes("GET", "/api/users/me/", [*auth, ("Expect", "garbage")]),
        "on a POST": request_bytes("POST", "/api/auth/token/", [("Content-Type", JSON), ("Expect", "nope")], body),
        "empty": request_bytes("GET", "/api/users/me/", [*auth, ("Expect", "")]),
        "after a good one": request_bytes("GET", "/api/users/me/", [*auth, ("Expect", "100-continue"), ("Expect", "x")]),
        "100-continue in any case": request_bytes(
            "POST", "/api/auth/token/", [("Content-Type", JSON), ("Expect", "100-Continue")], body
        ),
    }  # fmt: skip
    compare(live, requests)


@pytest.mark.parametrize(
    ("path", "content_type", "size"),
    [
        ("/api/users/", "text/plain", 20_000_000),
        ("/api/auth/token/", "text/plain", 20_000_000),
        ("/api/users/", "application/xml", 3_000_000),
        ("/api/users/", JSON, 3_000_000),  # JSON over Django's 2.5 MB: its RequestDataTooBig page
    ],
)
def test_a_large_body_of_a_type_no_parser_takes_is_a_415_before_it_is_read(live, path, content_type, size):
    data = request_bytes("POST", path, [("Content-Type", content_type)], b"x" * size)
    answers = []
    for port in (live.legacy, live.modern):
        with Connection(port) as conn:
            sender = conn.send_in_background(data)
            answers.append(conn.read("POST"))
            sender.join(30)
    assert not differences(*answers), differences(*answers)
    assert answers[1].status == (400 if content_type == JSON else 415)
