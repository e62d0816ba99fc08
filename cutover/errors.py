from __future__ import annotations

from .exit_codes import ExitCode


class CutoverError(Exception):
    """A failure to report as one line on stderr, with an exit code; never a traceback."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers' messages run over several lines)."""
    root = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's exception
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    return lines[0] if lines else type(root).__name__
