"""Credentials for the cases' ``auth = "SCHEME:USER"``, minted in-process by the legacy's own code.

``USER`` is a username of the fixture (the user model's ``USERNAME_FIELD``). Each scheme is a small class
with one ``mint(user)`` that runs after the fixture is loaded, with Django set up, and returns what a
request carries (headers, cookies) plus the raw secret values (named in observations, scrubbed from
reports):

- ``token``: the user's DRF token (``Token.objects.get_or_create``), sent with the keyword of the
  project's ``TokenAuthentication`` (``Authorization: Token <key>``);
- ``session``: a session of the project's ``SESSION_ENGINE`` holding what ``django.contrib.auth.login``
  stores (user id, backend, session auth hash), in the cookie ``SESSION_COOKIE_NAME``;
- ``jwt``: a djangorestframework-simplejwt access token (``AccessToken.for_user``), in the header and
  with the type its ``SIMPLE_JWT`` settings name (``Authorization: Bearer ...``);
- ``basic``: ``Authorization: Basic`` with the user's password as the fixture declares it;
- the project's own: ``[identities.schemes] NAME = "module:function"``, called with the user (an
  instance of the project's user model), returning a mapping with ``headers`` and/or ``cookies``.

A request that sends cookies is cookie-authenticated: it also carries the CSRF cookie
(``CSRF_COOKIE_NAME``, a fixed secret) and, on unsafe methods, the CSRF header (``CSRF_HEADER_NAME``)
masked as Django masks it, as the case's ``csrf`` says. With ``CSRF_USE_SESSIONS`` the secret is stored
in the minted session instead of a cookie.
"""

from __future__ import annotations

import base64
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import CutoverError

__all__ = [
    "BUILTIN",
    "CSRF_SECRET",
    "Credential",
    "Csrf",
    "IdentityError",
    "Scheme",
    "login_session_data",
    "schemes_for",
]

CSRF_SECRET = "paritycsrfsecret0123456789ABCDEF"  # 32 characters from Django's CSRF alphabet
CSRF_MASK = "maskmaskmaskmaskmaskmaskmaskmask"  # fixed so that requests are byte-identical between runs


class IdentityError(CutoverError):
    """A case's identity cannot be had: unknown scheme, user not in the fixture, scheme unavailable."""


@dataclass(frozen=True)
class Credential:
    """What a request carries to authenticate as one identity."""

    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()  # the raw secret values (a token key, a session key)


class Scheme(Protocol):
    name: str

    def mint(self, user: Any) -> Credential: ...


def _header_name(meta_name: str) -> str:
    # Django's request.META name (HTTP_X_CSRFTOKEN) -> the header a client sends (X-Csrftoken).
    name = meta_name.removeprefix("HTTP_")
    return "-".join(part.capitalize() for part in name.split("_"))


class TokenScheme:
    """DRF's ``TokenAuthentication``: the user's token, created by DRF when the fixture has none."""

    name = "token"

    def __init__(self) -> None:
        from django.apps import apps

        if not apps.is_installed("rest_framework.authtoken"):
            raise IdentityError(
                "the token scheme needs rest_framework.authtoken in INSTALLED_APPS (DRF's token model)"
            )
        from rest_framework.authentication import TokenAuthentication
        from rest_framework.settings import api_settings

        classes = [
            c for c in api_settings.DEFAULT_AUTHENTICATION_CLASSES if issubclass(c, TokenAuthentication)
        ]
        self.keyword = classes[0].keyword if classes else TokenAuthentication.keyword

    def mint(self, user: Any) -> Credential:
        from rest_framework.authtoken.models import Token

        key = Token.objects.get_or_create(user=user)[0].key
        return Credential(headers=(("Authorization", f"{self.keyword} {key}"),), secrets=(key,))


def mint_for(scheme: Scheme, username: str, *, where: str) -> Credential:
    """``scheme``'s credential for the project's user ``username`` (Django set up), or one line naming
    what failed; ``where`` says where the user should have come from ("in the fixture")."""
    from django.contrib.auth import get_user_model

    from ..errors import described

    model = get_user_model()
    try:
        user = model._default_manager.get_by_natural_key(username)
    except model.DoesNotExist:
        raise IdentityError(f"identity {scheme.name}:{username}: no user {username!r} {where}") from None
    try:
        return scheme.mint(user)
    except CutoverError:
        raise
    except Exception as exc:
        raise IdentityError(f"identity {scheme.name}:{username}: minting failed: {described(exc)}") from None


def login_session_data(user: Any) -> dict[str, Any]:
    """What ``django.contrib.auth.login`` stores in the session for ``user`` (without its side effects)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    backend = settings.AUTHENTICATION_BACKENDS[0]
    data = {
        SESSION_KEY: user._meta.pk.value_to_string(user),
        BACKEND_SESSION_KEY: backend,
        HASH_SESSION_KEY: user.get_session_auth_hash(),
    }
    if getattr(settings, "CSRF_USE_SESSIONS", False):
        from django.middleware.csrf import CSRF_SESSION_KEY

        data[CSRF_SESSION_KEY] = CSRF_SECRET
    return data


class SessionScheme:
    """A logged-in session of the project's session engine, in its session cookie."""

    name = "session"

    def __init__(self) -> None:
        from django.conf import settings

        self.cookie = settings.SESSION_COOKIE_NAME

    def mint(self, user: Any) -> Credential:
        from importlib import import_module

        from django.conf import settings

        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store.update(login_session_data(user))
        store.save()  # a new key, drawn and stored by the engine
        key = store.session_key
        assert key is not None
        return Credential(cookies=((self.cookie, key),), secrets=(key,))


class JwtScheme:
    """djangorestframework-simplejwt: an access token for the user, as its settings say to send it."""

    name = "jwt"

    def __init__(self) -> None:
        try:
            from rest_framework_simplejwt.settings import api_settings
        except ImportError:
            raise IdentityError(
                "the jwt scheme needs djangorestframework-simplejwt, which is not installed"
            ) from None
        self.header = _header_name(api_settings.AUTH_HEADER_NAME)
        types = api_settings.AUTH_HEADER_TYPES
        self.type = types if isinstance(types, str) else types[0]

    def mint(self, user: Any) -> Credential:
        from rest_framework_simplejwt.tokens import AccessToken

        token = str(AccessToken.for_user(user))
        return Credential(headers=((self.header, f"{self.type} {token}"),), secrets=(token,))


class BasicScheme:
    """HTTP Basic with the user's password, which the fixture must declare (``passwords``)."""

    name = "basic"

    def __init__(self, passwords: Mapping[str, str]) -> None:
        self.passwords = passwords

    def mint(self, user: Any) -> Credential:
        username = user.get_username()
        if username not in self.passwords:
            raise IdentityError(
                f"basic:{username} needs {username}'s password: a fixture factory declares it in 'passwords'"
            )
        raw = base64.b64encode(f"{username}:{self.passwords[username]}".encode()).decode()
        return Credential(
            headers=(("Authorization", f"Basic {raw}"),), secrets=(raw, self.passwords[username])
        )


class ProjectScheme:
    """``[identities.schemes] NAME = "module:function"``: the function returns headers and/or cookies."""

    def __init__(self, name: str, target: str, root: Path) -> None:
        self.name = name
        self.target = target
        self.root = root
        self._fn: Callable[[Any], Any] | None = None

    def mint(self, user: Any) -> Credential:
        if self._fn is None:
            from ..imports import import_string

            self._fn = import_string(self.target, self.root, what=f"the credential scheme {self.name!r}")
        result = self._fn(user)
        where = f"the credential scheme {self.name!r} ({self.target})"
        if not isinstance(result, Mapping) or not set(result) <= {"headers", "cookies"} or not result:
            raise IdentityError(f"{where} must return a mapping with 'headers' and/or 'cookies'")
        parts: dict[str, tuple[tuple[str, str], ...]] = {}
        for part in ("headers", "cookies"):
            values = result.get(part) or {}
            if not isinstance(values, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in values.items()
            ):
                raise IdentityError(f"{where}: {part} must map names to strings")
            parts[part] = tuple(values.items())
        secrets = [v for _, v in parts["cookies"]]
        for _, value in parts["headers"]:
            secrets.append(value)
            if " " in value:
                secrets.append(value.split(" ", 1)[1])
        return Credential(parts["headers"], parts["cookies"], tuple(secrets))


# DRF authentication classes (by the class they are, or derive from) -> the identity scheme that mints
# what they take.
_SCHEMES = (
    ("rest_framework.authentication.TokenAuthentication", "token"),
    ("rest_framework.authentication.SessionAuthentication", "session"),
    ("rest_framework_simplejwt.authentication.JWTAuthentication", "jwt"),
    ("rest_framework.authentication.BasicAuthentication", "basic"),
)


def schemes_of(classes: Sequence[Any]) -> tuple[str, ...]:
    """The built-in identity schemes whose credentials DRF authentication ``classes`` take."""
    from django.utils.module_loading import import_string

    found: list[str] = []
    for auth in classes:
        for dotted, scheme in _SCHEMES:
            try:
                base = import_string(dotted)
            except ImportError:
                continue
            if isinstance(auth, type) and issubclass(auth, base) and scheme not in found:
                found.append(scheme)
    return tuple(found)


BUILTIN: Mapping[str, Callable[..., Scheme]] = {
    "token": TokenScheme,
    "session": SessionScheme,
    "jwt": JwtScheme,
    "basic": BasicScheme,
}


def schemes_for(project: Mapping[str, str], root: Path, passwords: Mapping[str, str]) -> SchemeSet:
    """The built-in schemes and the project's (``[identities.schemes]``), each made when first used."""
    return SchemeSet(project, root, passwords)


class SchemeSet:
    def __init__(self, project: Mapping[str, str], root: Path, passwords: Mapping[str, str]) -> None:
        self.project = dict(project)
        self.root = root
        self.passwords = passwords
        self._made: dict[str, Scheme] = {}

    @property
    def names(self) -> list[str]:
        return [*BUILTIN, *sorted(self.project)]

    def get(self, name: str) -> Scheme:
        if name not in self._made:
            if name in self.project:
                self._made[name] = ProjectScheme(name, self.project[name], self.root)
            elif name == "basic":
                self._made[name] = BasicScheme(self.passwords)
            elif name in BUILTIN:
                self._made[name] = BUILTIN[name]()
            else:
                known = ", ".join(BUILTIN)
                own = ", ".join(sorted(self.project)) or "none"
                raise IdentityError(
                    f"unknown credential scheme {name!r} (built in: {known}; "
                    f"the project's [identities.schemes]: {own})"
                )
        return self._made[name]


@dataclass(frozen=True)
class Csrf:
    """The project's CSRF cookie and header names, and the fixed secret every cookie request carries."""

    cookie: str | None  # None with CSRF_USE_SESSIONS: the secret is in the session
    header: str
    secret: str = CSRF_SECRET

    @classmethod
    def from_settings(cls) -> Csrf:
        from django.conf import settings

        cookie = None if getattr(settings, "CSRF_USE_SESSIONS", False) else settings.CSRF_COOKIE_NAME
        return cls(cookie, _header_name(settings.CSRF_HEADER_NAME))

    def token(self, mode: str = "valid") -> str | None:
        """The CSRF header's value: masked as Django masks it, plain, missing (None) or wrong."""
        if mode == "missing":
            return None
        if mode == "plain":
            return self.secret
        secret = self.secret if mode == "valid" else _tamper(self.secret[::-1])
        return CSRF_MASK + _cipher(secret, CSRF_MASK)


def _tamper(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _cipher(secret: str, mask: str) -> str:
    # django.middleware.csrf._mask_cipher_secret with a fixed mask (Django draws it at random).
    chars = string.ascii_letters + string.digits
    return "".join(
        chars[(chars.index(x) + chars.index(y)) % len(chars)] for x, y in zip(secret, mask, strict=True)
    )
