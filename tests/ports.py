"""Free loopback ports for the servers the tests start, from a range of this xdist worker's own.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` is free when asked and taken by whoever binds
it first: with two workers starting stacks at once, one worker's metrics exporter once found the other
worker's shadow comparator on its port. Each worker takes ports from a range of its own below the
kernel's ephemeral range (``ip_local_port_range``, 32768 and up here), which no ``bind(0)`` and no
outgoing connection uses; a port is still checked free before it is handed out.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

_FIRST, _SIZE = 12000, 4000  # worker n: [_FIRST + n * _SIZE, _FIRST + (n + 1) * _SIZE)


def _worker() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def _candidates() -> itertools.cycle[int]:
    low = _FIRST + (_worker() % 5) * _SIZE  # 5 workers fit below 32768
    ports = list(range(low, low + _SIZE))
    start = random.randrange(_SIZE)  # a second session of the same worker number starts elsewhere
    return itertools.cycle(ports[start:] + ports[:start])


_NEXT = _candidates()


def free_port() -> int:
    """A loopback port nothing listens on now, never handed out twice in this process (before wrapping)."""
    for _ in range(_SIZE):
        port = next(_NEXT)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port in this worker's range")
