"""The real comparator made slow, for the test that the client never waits for it: each comparison takes
about ``SHADOW_TEST_DELAY`` seconds more (spread over its three calls). Run as
``python -m tests.cutover.shadow.slow_comparator --legacy URL --modern URL --port N --store URL``."""

from __future__ import annotations

import argparse
import asyncio
import os

from cutover.config import load_config
from cutover.shadow.compare import Copy
from cutover.shadow.serve import comparator, serve
from cutover.shadow.server import Comparator

DELAY = float(os.environ.get("SHADOW_TEST_DELAY", "2"))


class Slow(Comparator):
    async def _send(self, name: str, copy: Copy):  # type: ignore[override]
        await asyncio.sleep(DELAY / 3)
        return await super()._send(name, copy)


def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("--legacy", "--modern", "--store"):
        parser.add_argument(option, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    fast = comparator(load_config(), legacy=args.legacy, modern=args.modern, store=args.store)
    fast.__class__ = Slow
    serve(fast, port=args.port)


if __name__ == "__main__":
    main()
