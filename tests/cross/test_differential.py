"""The same requests to Django and to FastAPI on one database give the same status, body and headers.

Every case here leaves the database as it found it (reads, refusals, validation errors), so both apps
see identical rows; writes are compared row by row in ``test_writes.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.authtoken.models import Token

from legacy_django.users.models import User

from .compare import Answer, Call, compare_all, differences

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(make_user, django_session_cookie, csrf_pair):
    """Users with tokens and sessions; names chosen for search, ordering and unicode."""
    epoch = datetime(2024, 1, 1, 12, tzinfo=UTC)
    alice = make_user(username="alice", email="alice@example.com", first_name="Alice", last_name="Liddell",
                      date_joined=epoch)  # fmt: skip
    boss = make_user(
        username="boss", email="Boss@Example.com", is_staff=True, date_joined=epoch + timedelta(1)
    )
    sleeper = make_user(username="sleeper", email="s@example.com", is_active=False,
                        date_joined=epoch + timedelta(2, microseconds=5))  # fmt: skip
    for n in range(30):
        make_user(username=f"member{n:02d}", email=f"m{n:02d}@example.org", first_name=["Zoë", "Ørjan", "太郎"][n % 3],
                  last_name="lit_eral" if n == 7 else "100%" if n == 8 else "", is_active=n % 4 != 0,
                  date_joined=epoch + timedelta(days=3 + n, microseconds=0 if n % 2 else 123456))  # fmt: skip
    tokens = {u.username: Token.objects.create(user=u).key for u in (alice, boss, sleeper)}
    secret, masked = csrf_pair
    return {
        "alice": alice,
        "boss": boss,
        "sleeper": sleeper,
        "tok": {name: {"Authorization": f"Token {key}"} for name, key in tokens.items()},
        "session": {"Cookie": f"sessionid={django_session_cookie(alice)}"},
        "session_csrf": {
            "Cookie": f"sessionid={django_session_cookie(alice)}; csrftoken={secret}",
            "X-CSRFToken": masked,
        },
    }


def check(legacy_client, modern_client, calls):
    report = compare_all(legacy_client, modern_client, calls)
    assert not report, f"{len(report)} of {len(calls)} requests differ:\n" + "\n".join(report)


def test_list_queries(world, legacy_client, modern_client):
    tok = world["tok"]["alice"]
    queries = [
        "", "?page=2", "?page=last", "?page=0", "?page=9", "?page=abc", "?page=1.5", "?page=", "?page= 2",
        "?page_size=5", "?page_size=5&page=3", "?page_size=0", "?page_size=-1", "?page_size=x", "?page_size=500",
        "?search=zoë", "?search=ZOË", "?search=%25", "?search=_", "?search=lit_eral", "?search=member0 zo",
        '?search="member0"', "?search=member,alice", "?search=%00", "?search=", "?search=example.org&page=2",
        "?is_active=false", "?is_active=0", "?is_active=TRUE", "?is_active=maybe", "?is_active=",
        "?ordering=username", "?ordering=-username", "?ordering=email", "?ordering=-date_joined,id",
        "?ordering=password", "?ordering=-id,id", "?ordering= username", "?format=json", "?format=xml",
        "?b=2&a=1&page=2", "?search=m&search=alice", "?page_size=3&z=%C3%A9",
        # searches longer than the statements the port keeps per shape (queries.CACHED_TERMS), and mixed
        "?search=" + "+".join(["e"] * 12), "?search=" + "+".join(["e"] * 12) + "&is_active=true&ordering=-email",
        "?search=mem+zo&is_active=1&ordering=-date_joined,username&page_size=2&page=2",
    ]  # fmt: skip
    calls = [Call("GET", "/api/users/" + q, tok) for q in queries]
    calls.append(Call("GET", "/api/users/?page=2", {**tok, "X-Forwarded-Host": "localhost:8000",
                                                      "X-Forwarded-Proto": "https"}))  # fmt: skip
    calls.append(Call("GET", "/api/users/?page=2", {**tok, "X-Forwarded-Proto": "http, https"}))
    calls.append(Call("GET", "/api/users/?page=2", {**tok, "Host": "localhost:8002"}))
    calls.append(Call("GET", "/api/users/", {**tok, "Accept": "application/json; indent=2"}))
    calls.append(Call("GET", "/api/users/", {**tok, "Accept": "text/html"}))
    calls.append(Call("GET", "/api/users/", {**tok, "Accept": "text/html, application/*;q=0.5"}))
    calls.append(Call("GET", "/api/users/", {**tok, "Host": "evil.example.com"}))
    calls.append(Call("GET", "/api/users/", {**tok, "X-Forwarded-Host": "evil.example.com"}))
    check(legacy_client, modern_client, calls)


def test_authentication_outcomes(world, legacy_client, modern_client):
    paths = ["/api/users/", "/api/users/me/", f"/api/users/{world['alice'].pk}/"]
    headers = [
        {},
        world["tok"]["alice"],
        world["tok"]["sleeper"],
        {"Authorization": "Token"},
        {"Authorization": "Token a b"},
        {"Authorization": "token " + "0" * 40},
        {"Authorization": "Bearer abc"},
        world["session"],
        {"Cookie": "sessionid=tampered-value-123"},
        {"Cookie": "sessionid=abc"},
    ]
    calls = [Call(m, p, h) for p in paths for h in headers for m in ("GET", "HEAD", "OPTIONS")]
    check(legacy_client, modern_client, calls)


def test_sessions_of_inactive_or_deleted_users(world, legacy_client, modern_client, django_session_cookie):
    from legacy_django.users.models import User as DjangoUser

    carol = DjangoUser.objects.create_user("carol", "carol@example.com", "carol-password-123")
    dave = DjangoUser.objects.create_user("dave", "dave@example.com", "dave-password-123")
    carol_cookie, dave_cookie = django_session_cookie(carol), django_session_cookie(dave)
    DjangoUser.objects.filter(pk=carol.pk).update(is_active=False)
    DjangoUser.objects.filter(pk=dave.pk).delete()
    calls = [
        Call(method, path, {"Cookie": f"sessionid={cookie}"})
        for cookie in (carol_cookie, dave_cookie)
        for method, path in (("GET", "/api/users/me/"), ("POST", "/api/auth/token/"), ("GET", "/nope/"))
    ]
    check(legacy_client, modern_client, calls)


def test_detail_and_me(world, legacy_client, modern_client):
    tok, pk = world["tok"]["alice"], world["alice"].pk
    paths = [
        f"/api/users/{pk}/", f"/api/users/{world['boss'].pk}/", "/api/users/999999/", "/api/users/abc/",
        "/api/users/0/", "/api/users/-1/", "/api/users/99999999999999999999999/", f"/api/users/{pk}/?is_active=false",
        f"/api/users/{pk}/?search=nobody", f"/api/users/{pk}/?search=%00", "/api/users/me/?format=xml",
        "/api/users/%31/", "/api/users/1_0/", f"/api/users/{pk}/?search=" + "+".join(["a"] * 12),
        f"/api/users/{pk}/?search=ali+example&is_active=true",
    ]  # fmt: skip
    calls = [Call(m, p, tok) for p in paths for m in ("GET", "OPTIONS")]
    calls += [Call("OPTIONS", f"/api/users/{world['alice'].pk}/", world["tok"]["boss"])]
    check(legacy_client, modern_client, calls)


def test_methods_and_urls(world, legacy_client, modern_client):
    tok, pk = world["tok"]["alice"], world["alice"].pk
    calls = []
    for path in ["/api/users/", "/api/users/me/", f"/api/users/{pk + 1}/", "/api/auth/token/"]:
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "FOO"]:
            for headers in ({}, tok):
                calls.append(Call(method, path, headers))
    for path in ["/api/users", "/api/users/me", f"/api/users/{pk}", "/api/auth/token", "/api/users/1.5",
                 "/api/users/1.5/", "/nope/", "/nope", "/api/users//", "/api/users?x=%C3%A9&y=1", "//api/users"]:  # fmt: skip
        for method in ("GET", "POST", "HEAD"):
            calls.append(Call(method, path, {}))
    calls.append(Call("GET", "/nope", {"Host": "evil.example.com"}))
    calls.append(Call("GET", "/nope", {"Cookie": "sessionid=abc"}))
    for cookie in ("csrftoken=bad", "csrftoken=", "csrftoken=" + "a" * 32, "csrftoken=" + "b" * 64):
        for path in ("/api/users/", "/nope/", "/api/users", "/api/auth/token/"):
            calls.append(Call("GET", path, {"Cookie": cookie}))
        calls.append(Call("GET", "/api/users/", {**tok, "Cookie": cookie}))
        calls.append(
            Call(
                "POST",
                "/api/users/",
                {"Cookie": f"{world['session']['Cookie']}; {cookie}"},
                "{}",
                "application/json",
            )
        )
    check(legacy_client, modern_client, calls)


def test_refused_writes(world, legacy_client, modern_client):
    tok, pk = world["tok"]["alice"], world["alice"].pk
    boss = world["boss"].pk
    ok_signup = {"username": "newbie", "email": "n@example.com", "password": "long-enough-pass-99"}
    bodies = [
        ("{}", "application/json"), ("[1, 2]", "application/json"), ('"x"', "application/json"),
        ("null", "application/json"), ("3", "application/json"), ('{"username": ', "application/json"),
        ('{"a": NaN}', "application/json"), (b'{"a": "\xff"}', "application/json"),
        ("username=x", "application/x-www-form-urlencoded"), ("{}", "text/plain"), ("{}", ""),
        ("{}", "application/json; charset=bogus"), ("{}", "application/json; charset=rot13"), ("{}", "*/*"),
        ("{}", "APPLICATION/JSON"), ("{}", "application/json; indent=2"),
        (json.dumps({**ok_signup, "username": "alice"}), "application/json"),
        (json.dumps({**ok_signup, "email": "ALICE@EXAMPLE.COM"}), "application/json"),
        (json.dumps({**ok_signup, "password": "newbie"}), "application/json"),
        (json.dumps({**ok_signup, "password": "password123"}), "application/json"),
        (json.dumps({**ok_signup, "password": "8302946175"}), "application/json"),
        (json.dumps({**ok_signup, "password": "short"}), "application/json"),
        (json.dumps({**ok_signup, "username": "has space", "email": "nope"}), "application/json"),
        (json.dumps({**ok_signup, "username": "a\x00b", "email": "x\x00@y.com"}), "application/json"),
        (json.dumps({**ok_signup, "username": "x" * 151, "first_name": "y" * 151}), "application/json"),
        (json.dumps({**ok_signup, "username": True, "email": ["a@b.c"], "password": {"a": 1}}), "application/json"),
        (json.dumps({**ok_signup, "username": None, "last_name": None}), "application/json"),
        (json.dumps({**ok_signup, "username": "  ", "email": " "}), "application/json"),
        (json.dumps({**ok_signup, "email": "a@[1.2.3.4]", "password": "alice"}), "application/json"),
        ('{"username": "a\\ud800b", "email": "e@x.io", "password": "p"}', "application/json"),
    ]  # fmt: skip
    calls = [Call("POST", "/api/users/", {}, body, ct) for body, ct in bodies]
    calls += [Call("PATCH", f"/api/users/{pk}/", tok, body, ct) for body, ct in bodies[:16]]
    calls += [
        Call("PUT", f"/api/users/{pk}/", tok, '{"username": "alice"}', "application/json"),
        Call("PATCH", f"/api/users/{pk}/", tok, '{"email": "boss@EXAMPLE.com"}', "application/json"),
        Call("PATCH", f"/api/users/{pk}/", tok, '{"password": "alice"}', "application/json"),
        Call("PATCH", f"/api/users/{boss}/", tok, '{"first_name": "x"}', "application/json"),
        Call("DELETE", f"/api/users/{boss}/", tok),
        Call("PATCH", "/api/users/999999/", tok, '{"first_name": "x"}', "application/json"),
        Call("PATCH", f"/api/users/{pk}/", world["session"], '{"first_name": "x"}', "application/json"),
        Call("POST", "/api/users/", world["session"], json.dumps(ok_signup), "application/json"),
        Call("POST", "/api/users/", world["session_csrf"], '{"username": ', "application/json"),
        Call(
            "POST",
            "/api/users/",
            {**world["session_csrf"], "X-CSRFToken": "x" * 64},
            "{}",
            "application/json",
        ),
        Call(
            "POST",
            "/api/users/",
            {**world["session_csrf"], "Origin": "http://evil.example.com"},
            "{}",
            "application/json",
        ),  # fmt: skip
        Call("DELETE", f"/api/users/{pk}/", {**world["session_csrf"], "X-Forwarded-Proto": "https"}),
        Call("POST", "/api/users/", world["tok"]["sleeper"], json.dumps(ok_signup), "application/json"),
    ]
    token_bodies = [
        ('{"username": "alice", "password": "wrong"}', "application/json"),
        ('{"username": "nobody", "password": "x"}', "application/json"),
        ('{"username": "sleeper", "password": "fixture-password-123"}', "application/json"),
        ('{"username": "", "password": ""}', "application/json"),
        ('{"username": "alice"}', "application/json"), ("{}", "application/json"), ("[]", "application/json"),
        ("username=alice&password=wrong", "application/x-www-form-urlencoded"),
        ("username=&password=", "application/x-www-form-urlencoded"),
        ("{}", "text/plain"), ("{", "application/json"),
    ]  # fmt: skip
    calls += [Call("POST", "/api/auth/token/", {}, body, ct) for body, ct in token_bodies]
    calls += [
        Call(
            "POST",
            "/api/auth/token/",
            {"Authorization": "Token nope"},
            token_bodies[0][0],
            "application/json",
        )
    ]
    big = '{"username": "' + "x" * 2_700_000 + '"}'  # over Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    calls += [Call("POST", path, {}, big, "application/json") for path in ("/api/users/", "/api/auth/token/")]
    check(legacy_client, modern_client, calls)
    # Nothing above wrote a row.
    assert User.objects.count() == 33
    assert not User.objects.filter(username="newbie").exists()


def test_the_comparison_catches_a_real_difference():
    call = Call("GET", "/api/users/")
    base = Answer(200, {"content-type": "application/json", "allow": "GET"}, b'{"a":1}', {})
    assert differences(call, base, base) == []
    assert differences(call, base, Answer(200, {**base.headers, "allow": "GET, POST"}, base.body, {}))
    assert differences(call, base, Answer(200, base.headers, b'{"a": 1}', {}))  # same JSON, other bytes
    assert differences(call, base, Answer(422, base.headers, base.body, {}))
    assert differences(call, base, Answer(200, base.headers, base.body, {"sessionid": ("", "0")}))
