from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the check ran and found a problem: drift, a parity mismatch, a refused move
    USAGE = 2  # the user's mistake or a setup error: bad option, unreachable database, invalid manifest
    INCONCLUSIVE = 3  # too little to judge by: a promotion that saw too few requests (nothing moved)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as a shell reports it)
