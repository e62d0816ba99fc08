"""Follow the front door's JSON access log: read what was appended since the last read, across rotation.

Both front doors write one JSON object per line with the same field names (``render.py`` for nginx,
``envoy.py`` for Envoy); only the unit of ``request_time`` differs (nginx: seconds, Envoy: milliseconds),
so the follower is told which front door wrote the file.

Rotation is what logrotate does, either way:
- **rename and reopen** (the default): the path now names a new file (another inode). The old file may
  still get the last lines the front door buffered, so it is read to its end first, then the new one from
  its start;
- **copytruncate**: the same file, shorter than what was read. It is read again from its start.
A line not yet ended by a newline (a write in progress) is kept and completed on the next read.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

UNITS = {"nginx": 1.0, "envoy": 0.001}  # request_time in seconds, or in milliseconds


@dataclass(frozen=True)
class Entry:
    """One request through the front door."""

    time: float  # epoch seconds (the log's own time; nginx writes whole seconds)
    route: str
    backend: str  # the backend the front door meant the request for (a canary's side)
    served_by: str  # the backend whose server answered (legacy after a failover)
    status: int
    seconds: float  # the front door's request time


def parse(line: str, unit: float = 1.0) -> Entry | None:
    """The entry of one log line; None for a line that is not one (a partial or foreign line)."""
    try:
        data = json.loads(line)
        moment = datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00")).timestamp()
        return Entry(
            time=moment,
            route=str(data["route"]),
            backend=str(data["backend"]),
            served_by=str(data.get("served_by") or data["backend"]),
            status=int(data["status"]),
            seconds=float(data["request_time"]) * unit,
        )
    except (ValueError, KeyError, TypeError):
        return None


class LogFollower:
    """Reads the entries appended to ``path`` since the previous :meth:`read`, surviving rotation.

    ``from_start`` False (the default) skips what the file held when the follower was made: figures are
    about requests from now on, not the log's history.
    """

    def __init__(self, path: Path, front_door: str = "nginx", *, from_start: bool = False) -> None:
        self.path = Path(path)
        self.unit = UNITS[front_door]
        self.skipped = 0  # lines that were not entries
        self._file: io.BufferedReader | None = None
        self._partial = b""
        self._open(at_end=not from_start)

    def _open(self, *, at_end: bool) -> None:
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115  (kept open between reads, closed on rotation)
        except FileNotFoundError:
            self._file = None
            return
        if at_end:
            self._file.seek(0, os.SEEK_END)
        self._partial = b""

    def read(self) -> list[Entry]:
        if self._file is None:
            self._open(at_end=False)  # created since: everything in it is new
            if self._file is None:
                return []
        data = self._drain()
        try:
            now = os.stat(self.path)
        except FileNotFoundError:  # rotated away, the new file not there yet
            return self._entries(data)
        current = os.fstat(self._file.fileno())
        if (now.st_ino, now.st_dev) != (current.st_ino, current.st_dev):  # renamed: a new file at the path
            data += self._finish()
            self._file.close()
            self._open(at_end=False)
            data += self._drain()
        elif now.st_size < self._file.tell():  # truncated in place (copytruncate)
            self._file.seek(0)
            self._partial = b""
            data = self._drain()
        return self._entries(data)

    def _drain(self) -> bytes:
        assert self._file is not None
        chunk = self._partial + self._file.read()
        complete, _, self._partial = chunk.rpartition(b"\n")
        return complete + b"\n" if complete else b""

    def _finish(self) -> bytes:
        # The old file's last line, even unterminated: nothing more will be appended to it.
        rest, self._partial = self._partial, b""
        return rest + b"\n" if rest else b""

    def _entries(self, data: bytes) -> list[Entry]:
        out = []
        for raw in data.splitlines():
            if not raw.strip():
                continue
            entry = parse(raw.decode("utf-8", "replace"), self.unit)
            if entry is None:
                self.skipped += 1
            else:
                out.append(entry)
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> LogFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["UNITS", "Entry", "LogFollower", "parse"]
