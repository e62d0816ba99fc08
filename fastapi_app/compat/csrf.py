"""Django's CSRF check as DRF's ``SessionAuthentication.enforce_csrf`` runs it, without Django.

DRF enforces CSRF only for requests authenticated by the session cookie (an active logged-in user); token
and anonymous requests are never checked. It runs ``CsrfViewMiddleware.process_request`` then
``process_view`` (Django 5.2, ``django/middleware/csrf.py``) and, on failure, answers
``403 {"detail": "CSRF Failed: <reason>"}``. :func:`csrf_failure_reason` returns that ``<reason>``.

Settings of the legacy baked in here: ``CSRF_COOKIE_NAME="csrftoken"``,
``CSRF_HEADER_NAME="HTTP_X_CSRFTOKEN"``,
``CSRF_USE_SESSIONS=False``, ``CSRF_COOKIE_DOMAIN=None``, no ``CSRF_TRUSTED_ORIGINS`` by default,
``USE_X_FORWARDED_HOST=True``, ``SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")``.
"""

from __future__ import annotations

import re
import secrets
import string
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

__all__ = [
    "CSRF_COOKIE_NAME",
    "CSRF_HEADER",
    "LEGACY_ALLOWED_HOSTS",
    "REASON_BAD_ORIGIN",
    "REASON_BAD_REFERER",
    "REASON_CSRF_TOKEN_MISSING",
    "REASON_INCORRECT_LENGTH",
    "REASON_INSECURE_REFERER",
    "REASON_INVALID_CHARACTERS",
    "REASON_MALFORMED_REFERER",
    "REASON_NO_CSRF_COOKIE",
    "REASON_NO_REFERER",
    "csrf_failure_reason",
    "get_host",
    "is_same_domain",
    "mask_token",
    "new_csrf_secret",
    "request_is_secure",
    "unmask_token",
]

REASON_BAD_ORIGIN = "Origin checking failed - %s does not match any trusted origins."
REASON_NO_REFERER = "Referer checking failed - no Referer."
REASON_BAD_REFERER = "Referer checking failed - %s does not match any trusted origins."
REASON_NO_CSRF_COOKIE = "CSRF cookie not set."
REASON_CSRF_TOKEN_MISSING = "CSRF token missing."
REASON_MALFORMED_REFERER = "Referer checking failed - Referer is malformed."
REASON_INSECURE_REFERER = "Referer checking failed - Referer is insecure while host is secure."
REASON_INCORRECT_LENGTH = "has incorrect length"
REASON_INVALID_CHARACTERS = "has invalid characters"

CSRF_SECRET_LENGTH = 32
CSRF_TOKEN_LENGTH = 2 * CSRF_SECRET_LENGTH
CSRF_ALLOWED_CHARS = string.ascii_letters + string.digits
CSRF_COOKIE_NAME = "csrftoken"
CSRF_HEADER = "x-csrftoken"  # META HTTP_X_CSRFTOKEN
# How Django names that header in messages: HttpHeaders.parse_header_name("HTTP_X_CSRFTOKEN").
_CSRF_HEADER_DISPLAY = "X-Csrftoken"
# The legacy's settings.ALLOWED_HOSTS without the ALLOWED_HOSTS environment additions.
LEGACY_ALLOWED_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "testserver", "[::1]")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_INVALID_TOKEN_CHARS = re.compile("[^a-zA-Z0-9]")
_HOST_VALIDATION = re.compile(r"^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(?::([0-9]+))?$")


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def new_csrf_secret() -> str:
    """A fresh 32-character CSRF secret (what Django stores in the ``csrftoken`` cookie)."""
    return "".join(secrets.choice(CSRF_ALLOWED_CHARS) for _ in range(CSRF_SECRET_LENGTH))


def mask_token(secret: str) -> str:
    """Django's ``_mask_cipher_secret``: a 64-character token (random mask + secret shifted by the mask)."""
    mask = new_csrf_secret()
    chars = CSRF_ALLOWED_CHARS
    pairs = zip((chars.index(x) for x in secret), (chars.index(x) for x in mask), strict=False)
    return mask + "".join(chars[(x + y) % len(chars)] for x, y in pairs)


def unmask_token(token: str) -> str:
    """Django's ``_unmask_cipher_token``: the secret inside a 64-character masked token."""
    mask, cipher = token[:CSRF_SECRET_LENGTH], token[CSRF_SECRET_LENGTH:]
    chars = CSRF_ALLOWED_CHARS
    pairs = zip((chars.index(x) for x in cipher), (chars.index(x) for x in mask), strict=False)
    return "".join(chars[x - y] for x, y in pairs)  # negative indexes wrap, as in Django


def _check_token_format(token: str) -> None:
    if len(token) not in (CSRF_TOKEN_LENGTH, CSRF_SECRET_LENGTH):
        raise _Reject(REASON_INCORRECT_LENGTH)
    if _INVALID_TOKEN_CHARS.search(token):
        raise _Reject(REASON_INVALID_CHARACTERS)


def is_same_domain(host: str, pattern: str) -> bool:
    """``django.utils.http.is_same_domain``: exact match, or ``.example.com`` matching subdomains."""
    if not pattern:
        return False
    pattern = pattern.lower()
    return (pattern[0] == "." and (host.endswith(pattern) or host == pattern[1:])) or pattern == host


def _split_domain_port(host: str) -> tuple[str, str]:
    if match := _HOST_VALIDATION.fullmatch(host.lower()):
        domain, port = match.groups(default="")
        return domain.removesuffix("."), port
    return "", ""


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def get_host(
    headers: Mapping[str, str], allowed_hosts: Sequence[str] = LEGACY_ALLOWED_HOSTS, *, server_host: str = ""
) -> str | None:
    """``HttpRequest.get_host()`` with ``USE_X_FORWARDED_HOST=True``: ``X-Forwarded-Host``, else ``Host``.

    ``None`` where Django raises ``DisallowedHost`` (not in ``allowed_hosts`` or not a valid host name).
    ``server_host`` stands in for ``SERVER_NAME[:port]`` when neither header is sent.
    """
    lowered = _lower_keys(headers)
    host = lowered.get("x-forwarded-host", lowered.get("host", server_host))
    domain, _port = _split_domain_port(host)
    if domain and any(p == "*" or is_same_domain(domain, p) for p in allowed_hosts):
        return host
    return None


def request_is_secure(headers: Mapping[str, str], is_secure: bool) -> bool:
    """``HttpRequest.is_secure()`` with ``SECURE_PROXY_SSL_HEADER``: the first ``X-Forwarded-Proto`` value
    decides when the header is present, else the connection's own scheme (``is_secure``)."""
    value = _lower_keys(headers).get("x-forwarded-proto")
    if value is not None:
        return value.split(",", 1)[0].strip() == "https"
    return is_secure


def _origin_verified(
    origin: str, good_host: str | None, secure: bool, trusted_origins: Sequence[str]
) -> bool:
    if good_host is not None and origin == f"{'https' if secure else 'http'}://{good_host}":
        return True
    if origin in {o for o in trusted_origins if "*" not in o}:
        return True
    subdomains: defaultdict[str, list[str]] = defaultdict(list)
    for parsed in (urlsplit(o) for o in trusted_origins if "*" in o):
        subdomains[parsed.scheme].append(parsed.netloc.lstrip("*"))
    try:
        parsed_origin = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed_origin.netloc, host) for host in subdomains.get(parsed_origin.scheme, ())
    )


def _check_referer(referer: str | None, good_host: str | None, trusted_origins: Sequence[str]) -> None:
    if referer is None:
        raise _Reject(REASON_NO_REFERER)
    try:
        parsed = urlsplit(referer)
    except ValueError:
        raise _Reject(REASON_MALFORMED_REFERER) from None
    if "" in (parsed.scheme, parsed.netloc):
        raise _Reject(REASON_MALFORMED_REFERER)
    if parsed.scheme != "https":
        raise _Reject(REASON_INSECURE_REFERER)
    trusted_hosts = [urlsplit(o).netloc.lstrip("*") for o in trusted_origins]
    if any(is_same_domain(parsed.netloc, host) for host in trusted_hosts):
        return
    # CSRF_COOKIE_DOMAIN is None in the legacy, so the request's own host is the good referer.
    if good_host is None or not is_same_domain(parsed.netloc, good_host):
        raise _Reject(REASON_BAD_REFERER % parsed.geturl())


def csrf_failure_reason(
    *,
    method: str,
    is_secure: bool,
    headers: Mapping[str, str],
    cookies: Mapping[str, str],
    trusted_origins: Sequence[str] = (),
    allowed_hosts: Sequence[str] = LEGACY_ALLOWED_HOSTS,
    host: str = "",
    on_body_access: Callable[[], None] | None = None,
) -> str | None:
    """``None`` if a session-authenticated request passes Django's CSRF check, else Django's reason string.

    ``headers``: the request headers (any case); ``X-Forwarded-Host`` / ``X-Forwarded-Proto`` are honoured as
    the legacy does. ``is_secure``: whether the connection itself is HTTPS (``X-Forwarded-Proto`` overrides).
    ``host``: fallback for the request host when neither ``X-Forwarded-Host`` nor ``Host`` is sent.

    ``on_body_access`` is called exactly where Django's check reads ``request.POST`` (a POST whose
    ``csrftoken`` cookie is present and well-formed, before the header token is examined): DRF parses the
    body at that point, so a malformed JSON body answers 400 and a non-JSON media type 415 there, ahead of a
    missing or wrong token. Let it raise the port's parse error. (With JSONParser only, ``request.POST`` is
    always empty, so the token always comes from the header.)

    The answer to send on failure is ``403 {"detail": f"CSRF Failed: {reason}"}``.
    """
    method = method.upper()
    if method in _SAFE_METHODS:
        return None
    lowered = _lower_keys(headers)
    secure = request_is_secure(lowered, is_secure)
    good_host = get_host(lowered, allowed_hosts, server_host=host)

    if "origin" in lowered:
        if not _origin_verified(lowered["origin"], good_host, secure, trusted_origins):
            return REASON_BAD_ORIGIN % lowered["origin"]
    elif secure:
        try:
            _check_referer(lowered.get("referer"), good_host, trusted_origins)
        except _Reject as exc:
            return exc.reason

    # _check_token: the cookie first (absent, or malformed), then the token.
    secret = cookies.get(CSRF_COOKIE_NAME)
    if secret is None:
        return REASON_NO_CSRF_COOKIE
    try:
        _check_token_format(secret)
    except _Reject as exc:
        return f"CSRF cookie {exc.reason}."
    if len(secret) == CSRF_TOKEN_LENGTH:
        secret = unmask_token(secret)

    if method == "POST" and on_body_access is not None:
        on_body_access()

    token = lowered.get(CSRF_HEADER)
    if token is None:
        return REASON_CSRF_TOKEN_MISSING
    try:
        _check_token_format(token)
    except _Reject as exc:
        return f"CSRF token from the {_CSRF_HEADER_DISPLAY!r} HTTP header {exc.reason}."
    if len(token) == CSRF_TOKEN_LENGTH:
        token = unmask_token(token)
    if not secrets.compare_digest(token.encode(), secret.encode()):
        return f"CSRF token from the {_CSRF_HEADER_DISPLAY!r} HTTP header incorrect."
    return None
