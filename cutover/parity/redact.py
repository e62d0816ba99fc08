"""Keep secrets out of reports: credentials by name, and every known secret value wherever it appears."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "Redactor"]

REDACTED = "***"
# Keys whose values are secrets, whatever the value looks like (headers, JSON fields, columns).
SECRET_KEYS = frozenset({
    "authorization", "proxy-authorization", "cookie", "x-csrftoken", "csrftoken", "sessionid",
    "csrfmiddlewaretoken", "password", "new_password", "old_password", "token", "key", "session_key",
    "session_data", "secret", "secret_key", "api_key",
})  # fmt: skip
_CREDENTIAL_VALUE = re.compile(r"(?i)\b(token|bearer|basic)\s+[A-Za-z0-9._~+/=:-]{16,}")


class Redactor:
    """Replaces secret values in nested data; ``secrets`` are values scrubbed inside any string."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return _CREDENTIAL_VALUE.sub(lambda m: f"{m.group(1)} {REDACTED}", value)

    def value(self, value: Any, key: str | None = None) -> Any:
        """``value`` with secrets masked: leaves under a secret key, and known secrets inside any string."""
        secret = key is not None and key.lower() in SECRET_KEYS
        if isinstance(value, dict):
            # Structure survives (a described hash keeps algorithm and iterations); secret leaves do not.
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v, key if secret else None) for v in value]
        if secret:
            if value in (None, "") or isinstance(value, bool):
                return value
            if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
                return value  # already a description, e.g. "<40 characters, hex>"
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        return value

    def at(self, path: str, value: Any) -> Any:
        """``value`` found at ``path`` (``body.token``): masked if any key on the path is secret."""
        keys = [k for k in re.split(r"[.\[\]]", path) if k and not k.isdigit()]
        secret = next((k for k in keys if k.lower() in SECRET_KEYS), None)
        return self.value(value, secret)

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[list[str]]:
        """Request headers for a report: credential headers masked, cookie names kept."""
        out = []
        for name, value in headers:
            lower = name.lower()
            if lower == "cookie":
                names = [part.split("=", 1)[0].strip() for part in value.split(";") if part.strip()]
                value = "; ".join(f"{n}={REDACTED}" for n in names)
            elif lower in SECRET_KEYS:
                scheme = value.split(" ", 1)[0] if " " in value else ""
                value = f"{scheme} {REDACTED}".strip()
            else:
                value = self.text(value)
            out.append([name, value])
        return out
