from __future__ import annotations

from .exit_codes import ExitCode


class CutoverError(Exception):
    """A failure to report as one line on stderr, with an exit code; never a traceback."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code
