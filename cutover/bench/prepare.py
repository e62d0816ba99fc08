"""The bench's in-Django step, run as a child process on the bench's database: the dataset and credentials.

``python -m cutover.bench.prepare`` reads a JSON request on stdin (the project root, ``[bench] dataset``,
``[identities.schemes]``, the scenarios' identities), sets up the project's Django (``DJANGO_SETTINGS_MODULE``
and ``DATABASE_URL`` from its environment, as ``django-admin`` has them), calls the dataset factory, mints
each identity with parity's own schemes (:mod:`cutover.parity.identities`) and prints one JSON line after
:data:`MARKER`. A child process, so that the project's settings never load in the ``cutover`` process
(which may have a Django of its own set up, on another database: a test's).

A failure is one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MARKER", "main", "prepare"]

MARKER = "CUTOVER_BENCH_PREPARED "


def prepare(request: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset's values and, per identity, what a request carries (Django must be set up)."""
    from ..errors import CutoverError
    from ..imports import import_string
    from ..parity.identities import Csrf, mint_for, schemes_for

    root = Path(request["root"])
    values: Any = {}
    passwords: Mapping[str, str] = {}
    if request.get("dataset"):
        factory = import_string(request["dataset"], root, what="the bench dataset ([bench] dataset)")
        try:
            values = factory()
        except CutoverError:
            raise
        except Exception as exc:
            raise CutoverError(
                f"the bench dataset {request['dataset']} failed: {type(exc).__name__}: {exc}"
            ) from None
        if isinstance(values, Mapping) and "passwords" in values:
            values = dict(values)
            passwords = values.pop("passwords") or {}
    schemes = schemes_for(request.get("schemes") or {}, root, passwords)
    csrf = Csrf.from_settings()
    credentials: dict[str, Any] = {}
    for identity in request.get("identities", []):
        scheme_name, _, username = identity.partition(":")
        scheme = schemes.get(scheme_name)
        credential = mint_for(
            scheme, username, where="in the bench database (does [bench] seed or dataset create it?)"
        )
        credentials[identity] = {
            "headers": [list(h) for h in credential.headers],
            "cookies": [list(c) for c in credential.cookies],
        }
    return {
        "values": values,
        "csrf": {"cookie": csrf.cookie, "secret": csrf.secret, "header": csrf.header, "token": csrf.token()},
        "credentials": credentials,
    }


def main() -> int:
    from ..errors import CutoverError

    try:
        request = json.loads(sys.stdin.read())
        import django

        django.setup()
        result = prepare(request)
        line = json.dumps(result, ensure_ascii=False)
    except CutoverError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except Exception as exc:  # the project's settings or code: one line, not a traceback
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        print(f"{type(exc).__name__}: {first}", file=sys.stderr)
        return 2
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
    print(MARKER + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
