"""PBKDF2 computed once per input while a parity session runs both apps in this process.

PBKDF2 is a pure function: the same hash, password, salt, iteration count and length give the same bytes,
every time. A parity run computes the same ones over and over at Django's 10^6 iterations (a fifth of a
second each): both apps check the fixture's hashes on every login, and the engine verifies each hash an
app writes, which the app itself has just computed from the password the request sent. While
:func:`memoised_pbkdf2` is active, ``hashlib.pbkdf2_hmac`` hands back the bytes it computed before for the
same input instead of computing them again, so what every hash check decides is exactly what it would
have decided, and a hash of another password, salt or iteration count is still computed and still fails.

Never on an event loop: a call made from a thread running one computes for real, so a port that hashes on
its loop still blocks it for as long as it would, and the blocking check (:mod:`.blocking`) sees it.

Inputs are kept as a digest (BLAKE2b), never as the password; results stay in this process's memory and
are dropped when the session ends (at most :data:`SIZE` of them, least recently used first).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["Pbkdf2Memo", "memoised_pbkdf2"]

SIZE = 4096


@dataclass
class Pbkdf2Memo:
    """What the memo did: ``computed`` calls ran PBKDF2, ``reused`` ones were answered from it."""

    computed: int = 0
    reused: int = 0


def _key(hash_name: Any, password: Any, salt: Any, iterations: Any, dklen: Any) -> bytes:
    """A digest of every input, each length-prefixed (TypeError for what PBKDF2 itself would refuse)."""
    digest = hashlib.blake2b(digest_size=32)
    for part in (str(hash_name).encode(), memoryview(password).tobytes(), memoryview(salt).tobytes(),
                 repr((int(iterations), dklen)).encode()):  # fmt: skip
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


@contextmanager
def memoised_pbkdf2(size: int = SIZE) -> Iterator[Pbkdf2Memo]:
    """``hashlib.pbkdf2_hmac`` memoised for the duration (see the module docstring)."""
    real = hashlib.pbkdf2_hmac
    results: OrderedDict[bytes, bytes] = OrderedDict()
    lock = threading.Lock()
    memo = Pbkdf2Memo()

    def pbkdf2_hmac(
        hash_name: str, password: Any, salt: Any, iterations: int, dklen: int | None = None
    ) -> bytes:
        if asyncio._get_running_loop() is not None:
            return real(hash_name, password, salt, iterations, dklen)
        try:
            key = _key(hash_name, password, salt, iterations, dklen)
        except (TypeError, ValueError):  # not bytes-like: PBKDF2 itself says what is wrong
            return real(hash_name, password, salt, iterations, dklen)
        with lock:
            found = results.get(key)
            if found is not None:
                results.move_to_end(key)
                memo.reused += 1
                return found
        derived = real(hash_name, password, salt, iterations, dklen)
        with lock:
            results[key] = derived
            memo.computed += 1
            while len(results) > size:
                results.popitem(last=False)
        return derived

    hashlib.pbkdf2_hmac = pbkdf2_hmac
    try:
        yield memo
    finally:
        hashlib.pbkdf2_hmac = real
        results.clear()
