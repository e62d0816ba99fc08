"""The toolkit's one kind of user-facing failure, and how every command reports it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from .exit_codes import ExitCode

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class CutoverError(Exception):
    """A failure to report as one line on stderr, with an exit code; never a traceback."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a CutoverError into one line on stderr and its exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CutoverError as exc:
            err_console.print(f"cutover: error: {exc}", markup=False)
            raise typer.Exit(int(exc.code)) from None

    return wrapper


def last_line(output: str) -> str:
    """The last non-empty line of a child process's output (where its error is), or ``(no output)``."""
    return (output.strip().splitlines() or ["(no output)"])[-1]


def described(exc: BaseException) -> str:
    """``Type: first line of the message``: how a setup error names what went wrong, on one line."""
    root = getattr(exc, "orig", None) or exc
    first = one_line(exc)
    return type(root).__name__ if first == type(root).__name__ else f"{type(root).__name__}: {first}"


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers' messages run over several lines)."""
    root = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's exception
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    return lines[0] if lines else type(root).__name__
