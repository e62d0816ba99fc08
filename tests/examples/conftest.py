"""The catalog example running for real: its virtualenv, its own database, gunicorn and uvicorn."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from cutover.dburl import DatabaseURL

from .catalog_env import (
    FIXTURE,
    Server,
    ensure_venv,
    gunicorn,
    manage,
    project_env,
    scratch_database,
    uvicorn,
)
from .http_parity import FRONT_DOOR

PASSWORD = "catalog-password-123"  # every fixture user's


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(payload: dict[str, Any], key: str, alg: str = "HS256") -> str:
    """A JSON Web Token made without PyJWT (an encoder independent of both apps')."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    signing_input = f"{header}.{body}".encode()
    if alg == "none":
        return f"{header}.{body}."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    return f"{header}.{body}.{_b64(hmac.new(key.encode(), signing_input, digest).digest())}"


@dataclass
class Catalog:
    bin: Path
    database: DatabaseURL
    env: dict[str, str]
    secret_key: str
    legacy: Server
    modern: Server
    baseline: dict[str, int] = field(default_factory=dict)
    _tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def tokens(self, username: str) -> dict[str, str]:
        """``{"access", "refresh"}`` from the legacy's own token endpoint (simplejwt), once per user."""
        if username not in self._tokens:
            answer = httpx.post(
                self.legacy.url + "/api/token/",
                json={"username": username, "password": PASSWORD},
                headers={"Host": FRONT_DOOR},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            self._tokens[username] = answer.json()
        return self._tokens[username]

    def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens(username)['access']}"}

    def claims(self, **changes: Any) -> dict[str, Any]:
        """An access token's claims as simplejwt writes them, for alice unless changed."""
        now = int(time.time())
        claims = {
            "token_type": "access",
            "exp": now + 600,
            "iat": now,
            "jti": secrets.token_hex(16),
            "user_id": "2",
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not ...}

    def forged(self, key: str | None = None, alg: str = "HS256", **changes: Any) -> dict[str, str]:
        token = mint_jwt(self.claims(**changes), self.secret_key if key is None else key, alg)
        return {"Authorization": f"Bearer {token}"}

    def reset(self) -> None:
        """Back to the fixture: products and their tags beyond it deleted, identities set back."""
        with psycopg.connect(self.database.libpq(), autocommit=True) as conn:
            conn.execute(
                "DELETE FROM products_product_tags WHERE id > %s", (self.baseline["products_product_tags"],)
            )
            conn.execute("DELETE FROM products_product WHERE id > %s", (self.baseline["products_product"],))
            for table, last in self.baseline.items():
                conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", (table, last))

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database.libpq()) as conn:
            return list(conn.execute(query, params).fetchall())


@pytest.fixture(scope="session")
def catalog_bin() -> Path:
    return ensure_venv()


@pytest.fixture(scope="session")
def test_server() -> DatabaseURL:
    return DatabaseURL.parse(os.environ["DATABASE_URL"])


@pytest.fixture(scope="session")
def catalog(
    catalog_bin: Path, test_server: DatabaseURL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    """The example migrated by its own migrations, loaded with its fixture, served by both apps."""
    secret_key = secrets.token_urlsafe(40)  # not the development key: both apps must read SECRET_KEY
    logs = tmp_path_factory.mktemp("catalog-servers")
    with scratch_database(test_server, "catalog_example") as database:
        env = project_env(catalog_bin, database, secret_key)
        manage(catalog_bin, env, "migrate", "--noinput", "-v", "0")
        manage(catalog_bin, env, "loaddata", str(FIXTURE), "-v", "0")
        with psycopg.connect(database.libpq()) as conn:
            baseline = {
                table: conn.execute(f"SELECT max(id) FROM {table}").fetchall()[0][0]
                for table in ("products_product", "products_product_tags")
            }
        legacy = gunicorn(catalog_bin, env, logs / "legacy.log")
        try:
            modern = uvicorn(catalog_bin, env, logs / "modern.log")
        except BaseException:
            legacy.stop()
            raise
        try:
            yield Catalog(catalog_bin, database, env, secret_key, legacy, modern, baseline)
        finally:
            legacy.stop()
            modern.stop()
