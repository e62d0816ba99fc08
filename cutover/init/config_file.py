"""The project config ``cutover init`` writes: what the project's settings say, as ``cutover.toml`` or as
``[tool.cutover]`` added to its ``pyproject.toml`` (the rest of that file untouched)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tomlkit

from ..config import ProjectConfig
from ..parity.identities import schemes_of

__all__ = ["ProjectFacts", "config_text", "pyproject_text"]

@dataclass(frozen=True)
class ProjectFacts:
    settings: str
    wsgi: str | None  # module:attribute
    session_cookie: str
    csrf_cookie: str
    schemes: tuple[str, ...]  # identity schemes the project's DRF authentication takes
    tables: tuple[str, ...]  # the project's own apps' tables
    missing_for_generated: tuple[str, ...] = ()  # what generated cases need and is not installed
    drf: bool = True  # whether the project's API is DRF's (rest_framework in INSTALLED_APPS)

    @classmethod
    def read(cls, project: ProjectConfig) -> ProjectFacts:
        """From the settings set up in this process."""
        import os

        from django.conf import settings

        from ..parity.tables import project_tables

        wsgi = getattr(settings, "WSGI_APPLICATION", None)
        if wsgi and ":" not in wsgi:
            module, _, attribute = wsgi.rpartition(".")
            wsgi = f"{module}:{attribute}"
        drf = _uses_drf()
        return cls(
            settings=os.environ["DJANGO_SETTINGS_MODULE"],
            wsgi=wsgi or None,
            session_cookie=settings.SESSION_COOKIE_NAME,
            csrf_cookie=settings.CSRF_COOKIE_NAME,
            schemes=_schemes(drf),
            tables=tuple(project_tables(project.root)),
            missing_for_generated=_missing_for_generated(drf),
            drf=drf,
        )


def _uses_drf() -> bool:
    from django.apps import apps

    return apps.is_installed("rest_framework")


def _missing_for_generated(drf: bool) -> tuple[str, ...]:
    """What generated cases need (a DRF API, whose OpenAPI schema drf-spectacular makes and schemathesis
    turns into requests) and this project or environment lacks."""
    from importlib.util import find_spec

    if not drf:
        return ("a DRF API (rest_framework in INSTALLED_APPS)",)
    needed = {"drf-spectacular": "drf_spectacular", "schemathesis": "schemathesis"}
    return tuple(name for name, module in needed.items() if find_spec(module) is None)


def _schemes(drf: bool) -> tuple[str, ...]:
    if not drf:  # no DRF API: Django's own session login
        return ("session",)
    from rest_framework.settings import api_settings  # an installed app: importable

    return schemes_of(api_settings.DEFAULT_AUTHENTICATION_CLASSES)




def _tables(facts: ProjectFacts, modern: str | None, manifest: str, cases: str) -> dict[str, Any]:
    legacy = tomlkit.table()
    legacy.add("settings", facts.settings)
    if facts.wsgi:
        legacy.add("wsgi", facts.wsgi)
    legacy.add(tomlkit.comment('health = "/"   # a path that answers once Django is up'))
    modern_table = tomlkit.table()
    if modern:
        modern_table.add("asgi", modern)
    else:
        modern_table.add(tomlkit.comment('asgi = "your_port.main:app"   # the FastAPI port, once it exists'))
    proxy = tomlkit.table()
    proxy.add("manifest", manifest)
    parity = tomlkit.table()
    parity.add("cases", cases)
    parity.add(tomlkit.comment('rules = "parity/rules.toml"   # differences you accept, with their reasons'))
    parity.add(tomlkit.comment('fixture = ["fixtures/data.json"]   # the data every case starts from'))
    parity.add(tomlkit.comment('blocking = "fail"   # or "warn": a blocking call on the port\'s event loop'))
    if facts.missing_for_generated:
        missing = " and ".join(facts.missing_for_generated)
        parity.add(tomlkit.comment(f"No generated cases: they need {missing}, not here; once there,"))
        parity.add(tomlkit.comment("remove this line (40 a run by default, --generated N)."))
        parity.add("generated", 0)
    else:
        parity.add(tomlkit.comment("generated = 40   # cases drawn from the OpenAPI schema a run"))
    if facts.tables:
        parity.add(tomlkit.comment(f"tables (default, the project's own apps): {', '.join(facts.tables)}"))
    else:
        parity.add(tomlkit.comment("tables: none (the project's own apps have no models): responses only,"))
        parity.add(tomlkit.comment('nothing reset between cases; name what the API writes: ["auth_user"]'))
    schemes = ", ".join(facts.schemes) or "none"
    whose = "your DRF authentication" if facts.drf else "Django"
    parity.add(
        tomlkit.comment(
            f"identities {whose} takes: {schemes} "
            f"(session cookie {facts.session_cookie!r}, CSRF cookie {facts.csrf_cookie!r})"
        )
    )
    return {"legacy": legacy, "modern": modern_table, "proxy": proxy, "parity": parity}


def config_text(facts: ProjectFacts, modern: str | None, manifest: str, cases: str) -> str:
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(
            "The project config of the cutover toolkit (docs/config.md), written by `cutover init`"
        )
    )
    doc.add(tomlkit.comment("from the project's settings. Paths are relative to this file's folder."))
    for name, table in _tables(facts, modern, manifest, cases).items():
        doc.add(tomlkit.nl())
        doc.add(name, table)
    return tomlkit.dumps(doc)


def pyproject_text(current: str, facts: ProjectFacts, modern: str | None, manifest: str, cases: str) -> str:
    doc = tomlkit.parse(current)
    tool = doc.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        doc.add("tool", tool)
    cutover = tomlkit.table(is_super_table=True)
    for name, table in _tables(facts, modern, manifest, cases).items():
        cutover.add(name, table)
    tool.add("cutover", cutover)
    return tomlkit.dumps(doc)
