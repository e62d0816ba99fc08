"""The demo's floor: the users API's three benchmarked endpoints on bare Starlette + asyncpg.

The same reads as the port (the token's user and the user by id in one statement, as the port reads them;
``COUNT(*)`` and one page with the search filter; the sign-up's two uniqueness checks and the insert) and
the same JSON as the legacy, with nothing in between: no ORM, no validation framework, no dependency
injection. It takes every shortcut the port takes (the one statement, the frozen startup heap), so that
whatever the FastAPI port costs above this is the price of its abstractions and its parity work; this is
the fastest the stack can go in Python.

Run under uvicorn (``uvicorn bench_demo.floor:app``) with ``DATABASE_URL`` set; ``cutover bench`` starts
it as the demo's ``[bench] floor`` (pyproject.toml). It is a benchmark fixture, not a third
implementation of the API: anything outside the benchmarked paths is minimal.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import math
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["app", "django_pbkdf2", "render_user", "search_condition"]

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
PBKDF2_ITERATIONS = 1_000_000  # Django 5.2's PBKDF2PasswordHasher.iterations
# Per worker process, held open; FLOOR_POOL_SIZE sizes it for a far database (the project config's
# [bench.env]); docs/performance.md for the sizing rule and the budget against max_connections.
GC_YOUNG_THRESHOLD = 10_000  # as the port's (fastapi_app/main.py)
POOL_SIZE = int(os.environ.get("FLOOR_POOL_SIZE", "10"))

USER_COLUMNS = "id, username, email, first_name, last_name, is_active, is_staff, date_joined, last_login"
SEARCH_FIELDS = ("username", "email", "first_name", "last_name")


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    # DRF's JSONRenderer: compact separators, non-ASCII kept, ``application/json`` without a charset.
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status, headers=dict(headers or {}), media_type="application/json")


def _datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def render_user(row: Mapping[str, Any]) -> dict[str, Any]:
    """A user as DRF's ``UserSerializer`` renders it."""
    return {
        "id": row["id"],
        "username": row["username"],
        "email": row["email"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "is_active": row["is_active"],
        "is_staff": row["is_staff"],
        "date_joined": _datetime(row["date_joined"]),
        "last_login": _datetime(row["last_login"]),
    }


def search_condition(search: str, first_param: int = 1) -> tuple[str, list[str]]:
    """DRF's SearchFilter as Django compiles it on PostgreSQL: terms ANDed, fields ORed, ``icontains``."""
    terms = [t for t in search.replace("\x00", "").replace(",", " ").split() if t]
    clauses: list[str] = []
    params: list[str] = []
    for term in terms:
        params.append("%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        n = first_param + len(params) - 1
        clauses.append("(" + " OR ".join(f'UPPER("{f}"::text) LIKE UPPER(${n})' for f in SEARCH_FIELDS) + ")")
    return (" AND ".join(clauses) or "TRUE"), params


def django_pbkdf2(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A ``pbkdf2_sha256$...`` hash that Django's PBKDF2PasswordHasher verifies."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    salt = "".join(secrets.choice(alphabet) for _ in range(22))
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}
INVALID_TOKEN = {"detail": "Invalid token."}
NO_MATCH = {"detail": "No User matches the given query."}


def _token_key(request: Request) -> str | Response:
    """TokenAuthentication's header checks: the key, or the 401 for a missing or malformed header."""
    parts = request.headers.get("authorization", "").split()
    if not parts or parts[0].lower() != "token":
        return _json(401, NOT_AUTHENTICATED, {"WWW-Authenticate": "Token"})
    if len(parts) != 2:
        detail = "No credentials provided." if len(parts) == 1 else "Token string should not contain spaces."
        return _json(401, {"detail": f"Invalid token header. {detail}"}, {"WWW-Authenticate": "Token"})
    return parts[1]


def _token_refused(row: Mapping[str, Any] | None) -> Response | None:
    """The 401 for a token whose row (its user's ``is_active``) is missing or inactive, else None."""
    if row is None or not row["is_active"]:
        return _json(
            401,
            INVALID_TOKEN if row is None else {"detail": "User inactive or deleted."},
            {"WWW-Authenticate": "Token"},
        )
    return None


async def _authenticate(request: Request, conn: asyncpg.Connection) -> Response | None:
    """TokenAuthentication: ``None`` when the request carries a valid token of an active user."""
    key = _token_key(request)
    if isinstance(key, Response):
        return key
    row = await conn.fetchrow(
        "SELECT u.is_active FROM authtoken_token t JOIN users u ON u.id = t.user_id WHERE t.key = $1", key
    )
    return _token_refused(row)


# The token's user (which = 0) and the user asked for (which = 1) in one round trip, as the port reads them
# (fastapi_app/queries.py::token_user_and): the floor takes every shortcut the port takes.
TOKEN_AND_USER = (
    f"SELECT 0 AS which, {USER_COLUMNS} FROM users WHERE id = (SELECT user_id FROM authtoken_token"
    f" WHERE key = $1) UNION ALL SELECT 1 AS which, {USER_COLUMNS} FROM users WHERE id = $2"
)


async def user_detail(request: Request) -> Response:
    key = _token_key(request)
    if isinstance(key, Response):
        return key
    try:
        user_id = int(request.path_params["user_id"])
    except ValueError:
        user_id = None
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn:
        if user_id is None:  # authentication still answers first
            return await _authenticate(request, conn) or _json(404, NO_MATCH)
        rows = await conn.fetch(TOKEN_AND_USER, key, user_id)
    token = next((r for r in rows if r["which"] == 0), None)
    if (denied := _token_refused(token)) is not None:
        return denied
    row = next((r for r in rows if r["which"] == 1), None)
    if row is None:
        return _json(404, NO_MATCH)
    return _json(200, render_user(row))


def _page_link(request: Request, page: int) -> str:
    # DRF's replace_query_param / remove_query_param: sorted query, page 1 drops ``page``.
    query = {k: v for k, v in request.query_params.items() if k != "page"}
    if page > 1:
        query["page"] = str(page)
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    scheme = "https" if request.headers.get("x-forwarded-proto") == "https" else request.url.scheme
    encoded = urlencode(sorted(query.items()))
    return f"{scheme}://{host}{request.url.path}" + (f"?{encoded}" if encoded else "")


async def user_list(request: Request) -> Response:
    pool: asyncpg.Pool = request.app.state.pool
    params = request.query_params
    try:
        size = int(params.get("page_size", PAGE_SIZE))
        size = min(size, MAX_PAGE_SIZE) if size > 0 else PAGE_SIZE
    except ValueError:
        size = PAGE_SIZE
    where, args = search_condition(params.get("search", ""))
    async with pool.acquire() as conn:
        if (denied := await _authenticate(request, conn)) is not None:
            return denied
        count = await conn.fetchval(f"SELECT COUNT(*) FROM users WHERE {where}", *args)
        pages = max(1, math.ceil(count / size))
        raw = params.get("page", "1")
        page = pages if raw == "last" else int(raw) if raw.isdigit() else 0
        if not 1 <= page <= pages:
            return _json(404, {"detail": "Invalid page."})
        rows = await conn.fetch(
            f"SELECT {USER_COLUMNS} FROM users WHERE {where} ORDER BY id"
            f" LIMIT {size} OFFSET {(page - 1) * size}",
            *args,
        )
    return _json(
        200,
        {
            "count": count,
            "next": _page_link(request, page + 1) if page < pages else None,
            "previous": _page_link(request, page - 1) if page > 1 else None,
            "results": [render_user(r) for r in rows],
        },
    )


async def user_create(request: Request) -> Response:
    try:
        body = await request.json()
    except ValueError:
        return _json(400, {"detail": "JSON parse error"})
    if not isinstance(body, dict):
        return _json(400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    errors: dict[str, list[str]] = {}
    for field in ("username", "email", "password"):
        if not isinstance(body.get(field), str) or not body[field]:
            errors[field] = ["This field is required."]
    if not errors and len(body["password"]) < 8:
        errors["password"] = ["This password is too short. It must contain at least 8 characters."]
    if errors:
        return _json(400, errors)
    local, _, domain = body["email"].rpartition("@")
    email = f"{local}@{domain.lower()}"  # BaseUserManager.normalize_email
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM users WHERE username = $1 LIMIT 1", body["username"]):
            errors["username"] = ["A user with that username already exists."]
        if await conn.fetchval("SELECT 1 FROM users WHERE UPPER(email::text) = UPPER($1) LIMIT 1", email):
            errors["email"] = ["A user with that email already exists."]
    if errors:
        return _json(400, errors)
    # PBKDF2 at 10^6 iterations is ~0.5 s of CPU: off the event loop (hashlib releases the GIL).
    password = await asyncio.to_thread(django_pbkdf2, body["password"])
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "INSERT INTO users (password, last_login, is_superuser, username, first_name, last_name, email,"
            " is_staff, is_active, date_joined) VALUES ($1, NULL, false, $2, $3, $4, $5, false, true, $6)"
            f" RETURNING {USER_COLUMNS}",
            password,
            body["username"],
            str(body.get("first_name", "")),
            str(body.get("last_name", "")),
            email,
            datetime.now(UTC),
        )
    return _json(201, render_user(row))


async def _keep_session(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset on release is a round trip (RESET ALL, UNLISTEN *, advisory unlocks) per
    # request; the floor changes no session state, so only the rollback of an open transaction (which the
    # pool does anyway) is needed. The fastest correct pool, not a shortcut the port could not take.
    return None


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ.get("DATABASE_URL", "").strip()  # libpq's form, which asyncpg reads as it is
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    app.state.pool = await asyncpg.create_pool(
        url, min_size=POOL_SIZE, max_size=POOL_SIZE, reset=_keep_session
    )
    # As the port does (fastapi_app/main.py): what startup made, out of the collector's sight, and the
    # young generation collected less often; both undone at shutdown.
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        await app.state.pool.close()


async def users(request: Request) -> Response:
    return await (user_create(request) if request.method == "POST" else user_list(request))


app = Starlette(
    routes=[
        Route("/api/users/", users, methods=["GET", "POST"]),
        Route("/api/users/{user_id}/", user_detail, methods=["GET"]),
    ],
    lifespan=lifespan,
)
