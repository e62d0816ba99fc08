"""fastapi_app.compat.csrf against DRF's SessionAuthentication.enforce_csrf (Django's CsrfViewMiddleware).

Every row of the table is run through both: Django gets a RequestFactory request wrapped in a DRF Request
(JSONParser only, as the legacy), the port gets the same method, headers and cookies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.middleware import csrf as dj_csrf
from django.test import RequestFactory, override_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.request import Request

from fastapi_app.compat import csrf as compat

SECRET = "abcdefghijklmnopqrstuvwxyzABCDEF"  # 32 allowed chars: a cookie value as Django sets it
OTHER = "ZYXWVUTSRQPONMLKJIHGFEDCBA987654"
MASKED = compat.mask_token(SECRET)


@dataclass
class Case:
    name: str
    method: str = "POST"
    secure: bool = False  # the connection's own scheme (wsgi.url_scheme)
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    body: str = "{}"
    trusted: tuple[str, ...] = ()


def ok(**kw) -> dict:
    """A request carrying a good cookie and header token, plus overrides."""
    headers = {"X-CSRFToken": compat.mask_token(SECRET), **kw.pop("headers", {})}
    return {"headers": headers, "cookies": {"csrftoken": SECRET}, **kw}


CASES = [
    # Safe methods are never checked.
    *[Case(f"safe-{m}", method=m) for m in ("GET", "HEAD", "OPTIONS", "TRACE")],
    # Cookie and token.
    Case("no-cookie-no-token"),
    Case("no-cookie-with-token", headers={"X-CSRFToken": MASKED}),
    Case("token-missing", cookies={"csrftoken": SECRET}),
    Case("masked-token", **ok()),
    Case("unmasked-token", headers={"X-CSRFToken": SECRET}, cookies={"csrftoken": SECRET}),
    Case("masked-cookie", headers={"X-CSRFToken": MASKED}, cookies={"csrftoken": compat.mask_token(SECRET)}),
    Case("wrong-token", headers={"X-CSRFToken": compat.mask_token(OTHER)}, cookies={"csrftoken": SECRET}),
    Case("wrong-unmasked-token", headers={"X-CSRFToken": OTHER}, cookies={"csrftoken": SECRET}),
    Case("short-token", headers={"X-CSRFToken": "abc"}, cookies={"csrftoken": SECRET}),
    Case("empty-token", headers={"X-CSRFToken": ""}, cookies={"csrftoken": SECRET}),
    Case("bad-char-token", headers={"X-CSRFToken": "!" + SECRET[1:]}, cookies={"csrftoken": SECRET}),
    Case("short-cookie", headers={"X-CSRFToken": MASKED}, cookies={"csrftoken": "short"}),
    Case("empty-cookie", headers={"X-CSRFToken": MASKED}, cookies={"csrftoken": ""}),
    Case("bad-char-cookie", headers={"X-CSRFToken": MASKED}, cookies={"csrftoken": "-" * 32}),
    Case("other-cookie-name", headers={"X-CSRFToken": MASKED}, cookies={"csrf": SECRET}),
    Case("lowercase-header", headers={"x-csrftoken": MASKED}, cookies={"csrftoken": SECRET}),
    *[Case(f"method-{m}", method=m, **ok()) for m in ("PUT", "PATCH", "DELETE")],
    *[
        Case(f"method-{m}-missing", method=m, cookies={"csrftoken": SECRET})
        for m in ("PUT", "PATCH", "DELETE")
    ],
    # Origin (checked whenever sent, before the token).
    Case("origin-same", **ok(headers={"Origin": "http://testserver"})),
    Case("origin-wrong-scheme", **ok(headers={"Origin": "https://testserver"})),
    Case("origin-evil", **ok(headers={"Origin": "http://evil.example"})),
    Case("origin-null", **ok(headers={"Origin": "null"})),
    Case("origin-empty", **ok(headers={"Origin": ""})),
    Case("origin-evil-no-cookie", headers={"Origin": "http://evil.example"}),
    Case("origin-ok-no-cookie", headers={"Origin": "http://testserver"}),
    Case("origin-with-port", **ok(headers={"Origin": "http://testserver:80"})),
    Case(
        "origin-forwarded-host",
        **ok(headers={"Origin": "http://localhost:8000", "X-Forwarded-Host": "localhost:8000"}),
    ),
    Case(
        "origin-host-not-forwarded",
        **ok(headers={"Origin": "http://testserver", "X-Forwarded-Host": "localhost:8000"}),
    ),
    Case(
        "origin-forwarded-proto", **ok(headers={"Origin": "https://testserver", "X-Forwarded-Proto": "https"})
    ),
    Case(
        "origin-forwarded-proto-http",
        **ok(headers={"Origin": "http://testserver", "X-Forwarded-Proto": "http"}, secure=True),
    ),
    Case("origin-disallowed-host", **ok(headers={"Origin": "http://evil.example", "Host": "evil.example"})),
    Case("origin-ipv6-host", **ok(headers={"Origin": "http://[::1]:8000", "Host": "[::1]:8000"})),
    Case("origin-malformed", **ok(headers={"Origin": "http://[::1"})),
    Case(
        "origin-trusted",
        trusted=("https://front.example",),
        **ok(headers={"Origin": "https://front.example"}),
    ),
    Case(
        "origin-trusted-wildcard",
        trusted=("https://*.example.com",),
        **ok(headers={"Origin": "https://a.b.example.com"}),
    ),
    Case(
        "origin-trusted-wrong-scheme",
        trusted=("https://*.example.com",),
        **ok(headers={"Origin": "http://a.example.com"}),
    ),
    # HTTPS without Origin: the Referer must match.
    Case("secure-no-referer", secure=True, **ok()),
    Case("forwarded-https-no-referer", **ok(headers={"X-Forwarded-Proto": "https"})),
    Case("forwarded-https-list", **ok(headers={"X-Forwarded-Proto": "https, http"})),
    Case("forwarded-http-overrides-secure", secure=True, **ok(headers={"X-Forwarded-Proto": "http"})),
    Case("referer-ok", secure=True, **ok(headers={"Referer": "https://testserver/page"})),
    Case("referer-insecure", secure=True, **ok(headers={"Referer": "http://testserver/page"})),
    Case("referer-evil", secure=True, **ok(headers={"Referer": "https://evil.example/x?y=1#z"})),
    Case("referer-malformed", secure=True, **ok(headers={"Referer": "not a url"})),
    Case("referer-no-host", secure=True, **ok(headers={"Referer": "https:///path"})),
    Case("referer-invalid-ipv6", secure=True, **ok(headers={"Referer": "https://[::1/"})),
    Case(
        "referer-forwarded-host",
        secure=True,
        **ok(headers={"Referer": "https://localhost/", "X-Forwarded-Host": "localhost"}),
    ),
    Case("referer-wrong-port", secure=True, **ok(headers={"Referer": "https://testserver:8443/"})),
    Case(
        "referer-disallowed-host",
        secure=True,
        **ok(headers={"Referer": "https://evil.example/", "Host": "evil.example"}),
    ),
    Case(
        "referer-trusted",
        secure=True,
        trusted=("https://front.example",),
        **ok(headers={"Referer": "https://front.example/"}),
    ),
    Case(
        "referer-trusted-wildcard",
        secure=True,
        trusted=("https://*.example.com",),
        **ok(headers={"Referer": "https://x.example.com/"}),
    ),
    Case("referer-ok-no-cookie", secure=True, headers={"Referer": "https://testserver/"}),
    Case("referer-bad-no-cookie", secure=True, headers={"Referer": "https://evil.example/"}),
    Case("secure-with-origin-skips-referer", secure=True, **ok(headers={"Origin": "https://testserver"})),
    Case("plain-http-ignores-referer", **ok(headers={"Referer": "https://evil.example/"})),
]


def django_reason(case: Case) -> str | None:
    """What DRF's SessionAuthentication.enforce_csrf answers for ``case`` (None = passes)."""
    factory = RequestFactory()
    headers = {k: v for k, v in case.headers.items() if k.lower() != "host"}
    # A real client always sends Host (RequestFactory would otherwise rebuild it from SERVER_NAME/PORT).
    extra = {"HTTP_HOST": next((v for k, v in case.headers.items() if k.lower() == "host"), "testserver")}
    for name, value in case.cookies.items():
        factory.cookies[name] = value
    django_request = factory.generic(
        case.method,
        "/api/users/",
        case.body,
        content_type="application/json",
        secure=case.secure,
        headers=headers,
        **extra,
    )
    request = Request(django_request, parsers=[JSONParser()])
    with override_settings(CSRF_TRUSTED_ORIGINS=list(case.trusted)):
        try:
            SessionAuthentication().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            detail = str(exc.detail)
            assert detail.startswith("CSRF Failed: ")
            return detail.removeprefix("CSRF Failed: ")
    return None


def port_reason(case: Case, reason: Callable[..., str | None] = compat.csrf_failure_reason) -> str | None:
    headers = {"Host": "testserver", **case.headers}
    return reason(
        method=case.method,
        is_secure=case.secure,
        headers=headers,
        cookies=case.cookies,
        trusted_origins=case.trusted,
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_same_verdict_and_reason_as_drf(case):
    assert port_reason(case) == django_reason(case)


def test_the_table_exercises_every_reason():
    reasons = {django_reason(c) for c in CASES}
    assert None in reasons
    fixed = {
        dj_csrf.REASON_NO_CSRF_COOKIE,
        dj_csrf.REASON_CSRF_TOKEN_MISSING,
        dj_csrf.REASON_NO_REFERER,
        dj_csrf.REASON_MALFORMED_REFERER,
        dj_csrf.REASON_INSECURE_REFERER,
        "CSRF cookie has incorrect length.",
        "CSRF cookie has invalid characters.",
        "CSRF token from the 'X-Csrftoken' HTTP header has incorrect length.",
        "CSRF token from the 'X-Csrftoken' HTTP header has invalid characters.",
        "CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
    }
    assert fixed <= reasons
    assert any(r and r.startswith("Origin checking failed") for r in reasons)
    assert any(r and r.startswith("Referer checking failed - https://") for r in reasons)


def test_the_comparison_catches_a_real_difference(monkeypatch):
    # A port that ignored X-Forwarded-Host (a plausible bug) must disagree with Django on the table.
    def ignoring_forwarded_host(**kw):
        kw["headers"] = {k: v for k, v in kw["headers"].items() if k.lower() != "x-forwarded-host"}
        return compat.csrf_failure_reason(**kw)

    mismatches = [c.name for c in CASES if port_reason(c, ignoring_forwarded_host) != django_reason(c)]
    assert mismatches == ["origin-forwarded-host", "origin-host-not-forwarded", "referer-forwarded-host"]


def test_constants_match_django():
    for name in [n for n in dir(dj_csrf) if n.startswith("REASON_")]:
        assert getattr(compat, name) == getattr(dj_csrf, name)
    assert compat.CSRF_ALLOWED_CHARS == dj_csrf.CSRF_ALLOWED_CHARS


def test_mask_and_unmask_interoperate_with_django():
    secret = compat.new_csrf_secret()
    assert len(secret) == 32 and set(secret) <= set(dj_csrf.CSRF_ALLOWED_CHARS)
    token = compat.mask_token(secret)
    assert len(token) == 64 and dj_csrf._unmask_cipher_token(token) == secret
    assert compat.unmask_token(dj_csrf._mask_cipher_secret(secret)) == secret
    assert compat.mask_token(secret) != token  # a fresh mask every time


class BodyError(Exception):
    pass


def test_body_is_read_where_drf_reads_it():
    """A POST with a valid cookie makes DRF parse the body before looking at the token header."""

    def parse():
        raise BodyError

    base = {"method": "POST", "is_secure": False, "headers": {"Host": "testserver"}}
    with pytest.raises(BodyError):
        compat.csrf_failure_reason(**base, cookies={"csrftoken": SECRET}, on_body_access=parse)
    # ... not without the cookie, and not for other methods.
    no_cookie = compat.csrf_failure_reason(**base, cookies={}, on_body_access=parse)
    assert no_cookie == "CSRF cookie not set."
    put = compat.csrf_failure_reason(
        **{**base, "method": "PUT"}, cookies={"csrftoken": SECRET}, on_body_access=parse
    )
    assert put == "CSRF token missing."

    # Django/DRF: the same request with a malformed JSON body raises DRF's ParseError at that point.
    django_case = Case("malformed-body", cookies={"csrftoken": SECRET}, body="{nope")
    with pytest.raises(exceptions.ParseError):
        django_reason(django_case)
    assert django_reason(
        Case("malformed-body-put", method="PUT", cookies={"csrftoken": SECRET}, body="{nope")
    ) == ("CSRF token missing.")


def test_legacy_allowed_hosts_are_the_settings_defaults():
    from django.conf import settings

    from legacy_django import settings as legacy_settings

    # The settings module's list = these + the ALLOWED_HOSTS environment variable (unset in tests); the
    # test runner appends its own "testserver" to the live settings, so read the module.
    assert list(compat.LEGACY_ALLOWED_HOSTS) == legacy_settings.ALLOWED_HOSTS
    assert settings.USE_X_FORWARDED_HOST is True
    assert settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings.CSRF_COOKIE_NAME == compat.CSRF_COOKIE_NAME and settings.CSRF_USE_SESSIONS is False
    assert settings.CSRF_HEADER_NAME == "HTTP_X_CSRFTOKEN" and settings.CSRF_COOKIE_DOMAIN is None


def test_get_host_and_request_is_secure():
    assert compat.get_host({"Host": "localhost:8000"}) == "localhost:8000"
    assert compat.get_host({"Host": "localhost", "X-Forwarded-Host": "127.0.0.1:8000"}) == "127.0.0.1:8000"
    assert compat.get_host({"Host": "evil.example"}) is None
    assert compat.get_host({"Host": "evil.example"}, allowed_hosts=[".example"]) == "evil.example"
    assert compat.get_host({}, server_host="testserver") == "testserver"
    assert compat.request_is_secure({"x-forwarded-proto": "https"}, False) is True
    assert compat.request_is_secure({"X-Forwarded-Proto": "http"}, True) is False
    assert compat.request_is_secure({}, True) is True


token_text = st.text(alphabet=compat.CSRF_ALLOWED_CHARS + "-_!é ", max_size=70)
maybe = st.none().map(lambda _: None)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    secure=st.booleans(),
    cookie=st.one_of(maybe, st.just(SECRET), st.just(MASKED), st.just(OTHER), token_text),
    token=st.one_of(
        maybe, st.just(SECRET), st.builds(compat.mask_token, st.just(SECRET)), st.just(OTHER), token_text
    ),
    origin=st.one_of(
        maybe, st.sampled_from(["http://testserver", "https://testserver", "http://localhost", "null"])
    ),
    referer=st.one_of(
        maybe, st.sampled_from(["https://testserver/", "http://testserver/", "https://evil/", "x"])
    ),
    forwarded_proto=st.one_of(maybe, st.sampled_from(["https", "http", "https,http"])),
    forwarded_host=st.one_of(maybe, st.sampled_from(["localhost", "evil.example", "testserver"])),
)
def test_property_same_verdict_as_drf(
    method, secure, cookie, token, origin, referer, forwarded_proto, forwarded_host
):
    headers = {
        name: value
        for name, value in [
            ("X-CSRFToken", token),
            ("Origin", origin),
            ("Referer", referer),
            ("X-Forwarded-Proto", forwarded_proto),
            ("X-Forwarded-Host", forwarded_host),
        ]
        if value is not None
    }
    # Cookie values with spaces or commas would be quoted on the wire; keep to what a cookie jar sends as is.
    cookies = {} if cookie is None or " " in cookie else {"csrftoken": cookie}
    case = Case("generated", method=method, secure=secure, headers=headers, cookies=cookies)
    assert port_reason(case) == django_reason(case)
