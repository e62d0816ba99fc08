"""``LegacyMiddleware``'s response headers, added on the raw list (``_add_legacy_headers``): what Django's
middleware adds, never twice, a header the view set kept, ``Vary`` merged."""

from __future__ import annotations

from typing import Any

from fastapi_app.middleware import _add_legacy_headers
from fastapi_app.sessions import SessionState

SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def _start(headers: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "http.response.start", "status": 200}
    if headers is not None:
        message["headers"] = headers
    return message


def test_every_header_django_adds_in_its_order_even_without_a_header_list():
    message = _start()
    _add_legacy_headers(message, True, SessionState.from_cookies({}), False)
    assert message["headers"] == [(b"x-frame-options", b"DENY"), *SECURITY]


def test_a_header_the_response_has_is_kept_not_repeated():
    own = [
        (b"content-type", b"application/json"),
        (b"x-frame-options", b"SAMEORIGIN"),
        (b"referrer-policy", b"no-referrer"),
    ]
    message = _start(tuple(own))  # any iterable, as ASGI allows
    _add_legacy_headers(message, True, SessionState.from_cookies({}), False)
    assert message["headers"] == [*own, SECURITY[0], SECURITY[2]]


def test_no_x_frame_options_outside_django_s_clickjacking_middleware():
    message = _start([])
    _add_legacy_headers(message, False, SessionState.from_cookies({}), True)  # no CSRF cookie either
    assert message["headers"] == SECURITY


def test_vary_cookie_merged_into_the_response_s_vary_when_the_session_was_read():
    session = SessionState.from_cookies({})
    session.accessed = True
    message = _start([(b"vary", b"Accept"), (b"allow", b"GET")])
    _add_legacy_headers(message, True, session, False)
    assert message["headers"] == [
        (b"vary", b"Accept, Cookie"),
        (b"allow", b"GET"),
        (b"x-frame-options", b"DENY"),
        *SECURITY,
    ]
    again = _start([(b"vary", b"Cookie")])
    _add_legacy_headers(again, True, session, False)
    assert [value for name, value in again["headers"] if name == b"vary"] == [b"Cookie"]


def test_a_malformed_csrf_cookie_is_replaced_with_vary_cookie():
    message = _start([])
    _add_legacy_headers(message, True, SessionState.from_cookies({}), True)
    names = [name for name, _ in message["headers"]]
    assert names == [b"x-frame-options", b"set-cookie", b"vary", *(name for name, _ in SECURITY)]
    cookie = dict(message["headers"])[b"set-cookie"].decode()
    assert cookie.startswith("csrftoken=") and "Max-Age=31449600; Path=/; SameSite=Lax" in cookie
