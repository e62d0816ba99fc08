"""The package's public surface, and its promise not to import Django."""

from __future__ import annotations

import inspect
import subprocess
import sys

import fastapi_app.compat as compat


def test_importing_compat_does_not_import_django():
    code = (
        "import sys, fastapi_app.compat as c;"
        "c.validate_password('x', {});"
        "c.decode_session('x', 'k', []);"
        "c.csrf_failure_reason(method='POST', is_secure=False, headers={}, cookies={});"
        "c.check_password_sync('p', c.make_password_sync('p', iterations=1));"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'rest_framework'});"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_api_the_fastapi_app_calls():
    sig = inspect.signature
    assert list(sig(compat.make_password_sync).parameters) == ["password", "salt", "iterations"]
    assert list(sig(compat.check_password_sync).parameters)[:2] == ["password", "encoded"]
    assert inspect.iscoroutinefunction(compat.make_password)
    assert inspect.iscoroutinefunction(compat.check_password)
    assert list(sig(compat.decode_session).parameters) == ["session_data", "secret_key", "fallbacks"]
    assert list(sig(compat.encode_session).parameters) == ["data", "secret_key"]
    assert list(sig(compat.session_auth_hash).parameters) == ["password_hash", "secret_key"]
    assert list(sig(compat.session_hash_matches).parameters) == [
        "stored",
        "password_hash",
        "secret_key",
        "fallbacks",
    ]
    assert list(sig(compat.validate_password).parameters) == ["password", "user_attributes"]
    assert all(p.kind is p.KEYWORD_ONLY for p in sig(compat.csrf_failure_reason).parameters.values())
    assert set(compat.__all__) <= set(dir(compat))
