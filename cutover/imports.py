"""Import strings from the project config, resolved in one place (as DRF's ``perform_import``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError
from .errors import described

__all__ = ["import_string", "project_importable"]


def project_importable(root: Path) -> None:
    """Put the project root first on ``sys.path``, as ``manage.py`` has it (no PYTHONPATH needed)."""
    folder = str(Path(root).absolute())
    if folder not in sys.path:
        sys.path.insert(0, folder)


def import_string(spec: str, root: Path, *, what: str) -> Any:
    """The object ``module:attribute`` names (``module.attribute`` too), imported with ``root`` importable.

    ``what`` says in the error what the object is for ("the SQLAlchemy mapping", "the ASGI app").
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep:
        module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute:
        raise ConfigError(f"{what}: {spec!r} is not an import string like 'package.module:name'")
    project_importable(root)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # anything the module raises on import is the project's, reported in one line
        raise ConfigError(f"{what}: cannot import {module_name!r}: {described(exc)}") from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"{what}: {module_name!r} has no attribute {attribute!r}") from None
    return target
